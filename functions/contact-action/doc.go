// Package contactaction is the contact-action function: contact_update on
// contactAction (queue contactQueue, publish/subscribe), the original
// mq-worker ContactAction (caliopen-original.md §8.3).
//
// It recomputes a contact's privacy features and privacy index from what
// the store holds and stores them on the contact (the API shows them):
//
//   - per address of the contact, the messages of the user with that
//     address among their participants (drafts aside), counted per UTC day
//     from the first day to the last (empty days count, as the original's
//     date histogram): message_day_total, message_day_avg and
//     message_day_pstdev (population standard deviation) of the address
//     with the most messages;
//   - public_key_best_size: the largest of the contact's keys that have
//     not expired, in RSA-equivalent bits (an elliptic-curve key of 255
//     bits or more counts as 3072, its usual equivalent strength);
//   - address_or_phone: the contact has a phone (postal addresses are not
//     kept yet);
//   - nb_protocols: the contact's e-mail addresses, phones and social
//     identities.
//
// The index follows the original's rules: technic 15 for a best key under
// 2048 bits, 20 for 2048, 30 above; context 10 when message_day_total is
// at least 10; comportment 10 for address_or_phone and 5 more when
// nb_protocols is at least 3; version 0.
//
// Idempotent: when the index and features equal the stored ones nothing is
// written (their date_update stays). An unknown user or contact is a
// permanent error (codes unknown_user, unknown_contact): the connector
// dead-letters the order with the reason. A store failure is temporary
// (store_unavailable) and the order is retried.
package contactaction
