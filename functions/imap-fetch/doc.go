// Package imapfetch is the imap-fetch function: the orders sync and
// fullfetch on IMAPfetcher (queue IMAPworkers, publish/subscribe), the
// original imap-bridge's Fetcher. It copies the INBOX of a remote e-mail
// identity into Caliopen.
//
// One invocation takes the identity's sync lease (two invocations never
// sync one account at once), logs in with the identity's credentials
// (package imapsync), and fetches, without marking anything read, at most
// Batch messages above the stored cursor (fullfetch: from UID 1; a changed
// UIDVALIDITY voids the cursor too). Each message's bytes are stored once
// under store.RawKey (the raw id is the SHA-256 of its bytes, so a
// re-import stores nothing new) and process_inbound is requested on
// inboundSMTP for it, InFlight at a time; inbound-email records the raw
// message in the message's own transaction. The cursor then advances over the longest run of
// UIDs, from the first, that were processed: a message that failed is
// fetched again by the next sync, never skipped. When messages remain,
// the function publishes sync on IMAPfetcher again and ends, so each
// invocation stays inside its time budget. The messages new to the user
// are notified once a batch, as the original's imap_worker did once a
// sync: one new_message notification (emitter imap_worker) with their
// count and the first 20; inbound-email stores none for them.
//
// Failure semantics. An order for an unknown or non-remote identity is
// permanent (unknown_identity, bad_identity). An inactive identity, or one
// whose lease another invocation holds, is acknowledged with nothing done
// (a fullfetch meeting a held lease is throttled instead, so it runs
// later). Failures of the account (unusable settings, refused login,
// unreachable server, dropped connection) and messages that inbound-email
// did not process are recorded on the identity (RecordSyncError) and the
// order is acknowledged: the next poll retries. From SlowAfter failures in
// a row on, each failure publishes update_interval on identitiesWorker
// with the poll interval doubled (BaseInterval·2^k, capped at MaxInterval);
// when the failures span more than DisableAfter (72 h, as the original)
// the identity is set inactive. A successful sync clears the error state
// and, if polling had been slowed, publishes update_interval back to
// BaseInterval. A message that inbound-email refuses permanently (a
// contract or size error) counts as processed and is logged with its raw
// id: it would block the mailbox for good otherwise. Failures of Caliopen's
// own services (store, blobs, the follow-up publish) are temporary errors:
// the connector redelivers the order, which resumes from the saved cursor.
package imapfetch
