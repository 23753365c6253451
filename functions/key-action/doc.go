// Package keyaction is the key-action function: discover_key,
// publish_key and delete_key on keyAction (queue keyQueue,
// publish/subscribe), the original mq-worker KeyAction
// (caliopen-original.md §8.4), which handled discover_key only.
//
//   - discover_key looks the keys of every e-mail address of the contact
//     up where GnuPG's --locate-external-keys looks (package
//     keydiscovery: WKD, DNS OPENPGPKEY, the configured HKP keyservers)
//     and in the Autocrypt headers of mail the user received from the
//     address, all at once with a timeout per lookup; the HKP keyservers,
//     where anyone may upload a key with any user id, are asked only for
//     the addresses the others found no key for, as GnuPG asks a
//     keyserver last. Keys whose
//     fingerprint the user already has are skipped; the others are stored
//     on the contact with where they were found (source) and whether the
//     answer was authenticated (the DNSSEC AD bit, verified TLS). Then it
//     publishes contact_update, since the privacy index depends on keys.
//     Failed lookups are logged and do not fail the order: discovery is
//     best effort, and a redelivery would ask the same servers again.
//   - publish_key publishes a key of the user's own contact (the user's
//     contact, or a contact with one of the user's local addresses, which
//     only the user holds): for each of its addresses that is one of the user's local identities, the
//     hosted Web Key Directory serves it (the api function answers
//     /.well-known/openpgpkey/..., which the gateway routes to it), and
//     it is uploaded to the configured HKP keyservers (/pks/add). A key
//     of another contact is not published: it is logged and acknowledged.
//   - delete_key withdraws the key from the hosted WKD. HKP keyservers
//     have no deletion: a key uploaded there stays (its owner can only
//     revoke it).
//
// Outbound lookups (WKD, HKP and every redirect) never reach loopback,
// private, link-local, shared or other special addresses, checked on the
// address dialled (package netguard); the operator lets an internal
// keyserver through by naming its host or prefix in CALIOPEN_EGRESS_ALLOW.
// CALIOPEN_KEYS_ALLOW_PRIVATE=true, which let every address through, is
// deprecated: it still does, with a warning at start. DNS OPENPGPKEY
// records are asked of the configured resolver (CALIOPEN_KEYS_DNS_SERVER,
// default the first of /etc/resolv.conf), which the operator trusts: its
// AD bit is recorded as the answer's DNSSEC status.
//
// Errors: an unknown user or contact is permanent (unknown_user,
// unknown_contact); a store failure, an HKP upload failure or an
// unpublished contact_update is temporary, and the order is retried (each
// step is idempotent).
package keyaction
