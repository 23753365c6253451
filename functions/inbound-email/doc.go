// Package inboundemail is the inbound-email function: it serves
// process_inbound on inboundSMTP (queue SMTPqueue), the order the SMTP
// listener sends once per local recipient of a received mail, and stores one
// message for that recipient's user (package inbound does the parsing and
// qualification). A raw message whose id is content-addressed (the
// listener's and imap-fetch's) is read under the key the id names, without
// a store read, and recorded with the message when imap-fetch left it
// unrecorded (or alone, when the message is refused, so that its bytes stay
// known); another id is looked up in the raw messages' records. Everything
// the message needs from the store is read and written in one transaction
// (store.Delivery).
//
// Replies follow design §2: {"message","message_id","discussion_id"} on
// success, also for a duplicate (same Message-ID for the same user, or a
// redelivered order), which points at the existing message and creates
// nothing. Failure semantics, each error classified once:
//   - permanent (HTTP 422, reply {"error": code, "message"}): raw message
//     unknown ("raw_not_found"), its bytes missing from the blob store
//     ("raw_missing"), raw message over the size limit ("raw_too_large"),
//     unknown user or identity ("unknown_identity"), an identity that is not
//     one of the user's active e-mail identities, local or remote (imap-fetch
//     sends the remote account's id) ("bad_identity"), a MIME structure
//     over the parser's limits, refused before parsing ("mime_rejected":
//     nesting depth, part count, header fields or header size);
//   - temporary (HTTP 503/504): the store or the blob store failing or
//     timing out; the listener answers 451 and the sending MTA retries.
//
// A mail that MIME cannot fully parse is still stored with what could be
// read; parsing fails only on a structure over the limits.
package inboundemail
