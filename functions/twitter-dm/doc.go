// Package twitterdm is the twitter-dm function: the orders sync
// (publish/subscribe, at least once; the scheduler's) and deliver
// (request/reply, 30 s; the API's SendDraft) on twitter_dm (queue
// twitterworkers), the seed's twitter-bridge DMmsgHandler, on the X API v2
// (package xapi).
//
// sync. One invocation takes the identity's sync lease (two syncs of one
// account never overlap), skips the account while its rate-limit window
// runs (store.SyncState.ThrottledUntil), and pages GET /2/dm_events, newest
// first, down to the stored cursor (the newest event processed), at most
// MaxPages pages. The events newer than the cursor are then handled
// oldest first: each MessageCreate is stored once as its raw message (the
// event with the users and media it names, xapi.EventDoc, content-addressed
// under store.RawKey) and process_inbound is requested on inboundTwitter
// with exactly the seed's payload {message_id, order, remote_id, user_id},
// InFlight at a time; join and leave events need no message. The cursor
// then advances over the longest run of handled events, from the oldest:
// a direct message that failed is fetched again by the next sync, never
// skipped. A walk cut short (rate limit, MaxPages) handles what it found
// and keeps the cursor, since older events may lie below it: when all it
// found was handled, the next sync resumes below it (the page token is
// kept with the cursor) and, once the pages down to the cursor are
// handled, the cursor moves to the newest event the cut walk read; else
// the next sync reads the same pages again (the event ids keep doubles
// out). A page token that X no longer takes restarts from the top. One
// sync pages and starts requests for Budget (10 s) at most; what it leaves
// is taken up by a follow-up sync it publishes on twitter_dm once its
// lease is released, as imap-fetch does, when it made progress.
//
// Rate limits. A 429, or a page saying no request remains in the window
// while more pages are needed, stops the walk at once: the window's end
// is recorded (no sync calls X before it) and update_interval is published
// on identitiesWorker (the seed's payload, protocol twitter) with a poll
// interval of twice the current one, at least up to the window's end,
// capped at a day. The first sync that succeeds afterwards clears the
// window and publishes the base interval back.
//
// deliver. Exactly once, as smtp-deliver: store.BeginSend takes the draft
// under a lease and records the attempt (the raw id of its sent copy);
// the copy (what is about to be sent) is stored in the blob store before
// the hand-off, then the direct message is posted: to the draft's
// conversation when the draft is in a twitter discussion or replies
// (In-Reply-To, an X event id) to a stored direct message, else to its
// first recipient (a twitter participant, by X id or by username looked up
// with GET /2/users/by/username). On success the copy is replaced by the
// sent event and the message is marked sent (the X event id as its
// external reference, in the discussion of its conversation). A refusal by
// X (an HTTP answer) marks the draft failed and removes the copy; a lost
// answer leaves the attempt recorded, and a later deliver finding its
// copy finishes it as sent without posting again. The reply is the
// deliver shape, {"error":false,"message":"message <id> has been sent."}.
//
// A recipient given by username is looked up once: the ids of the users
// that synced events name, and of earlier lookups, are remembered
// (store.RemoteHandles). X's temporary failures (5xx, 429, a connection
// never made) are tried again with a growing wait while the request's
// deadline leaves room, then reported as temporary (x_unavailable,
// rate_limited; the draft is failed and can be sent again).
//
// Credentials. An OAuth 2.0 access token X refuses before its stated
// expiry is renewed once and the request sent again (xaccount). A refresh
// token X refuses, or tokens it keeps refusing (OAuth 1.0a revoked), make
// the identity reauth_required with a notification (polling.RequireReauth):
// the scheduler no longer polls it, a sync sent anyway calls nothing, and
// new credentials make it active again, resuming from its cursor.
//
// Failure semantics (codes). Permanent: invalid_order, unknown_identity,
// bad_identity (not a remote twitter account), unknown_message,
// not_a_draft, invalid_draft (no text, no recipient), unknown_recipient
// (no such user or conversation), recipient_refuses_dm (a 403 sending to
// a user), send_refused (another refusal: 400, a 403 in a conversation),
// reauth_required; each reply says what happened. Temporary:
// store_unavailable, blob_unavailable, x_unavailable, send_in_progress,
// send_unconfirmed, publish_failed; rate_limited is throttled. A sync's
// other account failures (X) are recorded on the identity
// (RecordSyncError) and the order is acknowledged: the next poll retries.
package twitterdm
