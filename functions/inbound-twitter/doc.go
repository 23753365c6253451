// Package inboundtwitter is the inbound-twitter function: it serves
// process_inbound on inboundTwitter (queue Twitterqueue, request/reply, the
// original mq-worker's InboundTwitter), the order twitter-dm sends once per
// direct message event it fetched, and stores one message for the order's
// user.
//
// The raw message (message_id) is the event as twitter-dm stored it: the X
// API's own shape of one event with the users and media it names
// (xapi.EventDoc), content-addressed under store.RawKey, so it is read
// without a store read and recorded with the message. Its size and JSON
// nesting depth are bounded before it is parsed.
//
// The message (protocol twitter): participants are twitter addresses, the
// sender From and the other members of the conversation To, each with its
// username as address (its id when the username is unknown) and its X id;
// the body is the event's text; attachments list the media keys, types and
// URLs (the bytes stay at X); the X event id is the external reference
// (the dedup key); the date is the event's created_at. A message the
// account itself sent from another client is stored read and not received.
// It is threaded into the discussion of its conversation (key
// "twitter:<dm_conversation_id>", one-to-one and group alike), its
// participants are resolved to the user's contacts by their twitter social
// identity (the receiving account to the user's own contact), and a
// new_message notification is stored with it. Everything is one
// store.Delivery.
//
// Replies follow the inbound shape: {"message","message_id",
// "discussion_id"} on success, also for a duplicate (the same event id for
// the same user, or a redelivered order), which points at the stored
// message and creates nothing. Failures, classified once: permanent (HTTP
// 422, {"error": code, "message"}) for a raw message unknown
// (raw_not_found) or missing from the blob store (raw_missing), too large
// or too deep (raw_too_large), not a direct message event (bad_event), an
// unknown user or identity (unknown_identity), an identity that is not an
// active twitter account of the user (bad_identity); temporary (503/504)
// when the store or the blob store fail.
package inboundtwitter
