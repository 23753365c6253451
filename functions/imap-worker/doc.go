// Package imapworker is the imap-worker function: add_worker,
// reload_worker and remove_worker on imap_worker (queue IMAPworkers,
// publish/subscribe), the seed's imap-bridge WorkerMsgHandler (which the
// original never implemented, caliopen-original.md §5.7).
//
// In this serverless design there is no long-lived IMAP worker per
// account: a "worker" is an account's polling. The scheduler pod sends
// sync on IMAPfetcher when the identity's schedule is due, and imap-fetch
// logs in, syncs and leaves. So the orders act on the identity and its
// schedule in the store (remote_id names the identity):
//
//   - add_worker starts polling: the identity becomes active and gets a
//     schedule due now, so its first sync is sent within a scheduler tick.
//     An identity that is already active and scheduled is left alone, so a
//     redelivered add_worker sends no second sync.
//   - reload_worker restarts an active worker: it re-reads the identity
//     (its settings and credentials are read again by every sync anyway),
//     clears its error state (last error, error count, first and last error
//     times: the 72 h disabling rule starts over) and schedules a sync now.
//     A redelivered reload_worker may send one more sync; a sync is
//     idempotent (imap-fetch takes a lease and resumes from its cursor). On
//     a stopped (inactive) identity reload_worker clears the errors only
//     and says so: add_worker starts it.
//   - remove_worker stops polling: the identity becomes inactive and its
//     schedule is removed. A sync already sent still runs to its end.
//     Removing an unknown identity succeeds: there is nothing to stop.
//
// Errors: an unknown identity for add and reload is permanent with code
// unknown_identity; an identity that is not a remote e-mail account
// (protocol email or imap) is permanent with code not_imap_identity; a
// store failure is temporary (store_unavailable).
package imapworker
