// Package identitiesorders is the identities-orders function: the orders
// add_identity, update_identity, delete_identity and update_interval on
// identitiesWorker (queue IDsworker, publish/subscribe), the original
// identities-worker's natsOrdersHandler. It keeps the polling schedule of
// remote identities in the store; the scheduler pod (cmd/scheduler) emits
// the sync orders from it.
//
// An identity is polled when it is remote, active and of a polled protocol
// (email or imap on IMAPfetcher, twitter on twitter_dm; see package
// schedule).
//
//   - add_identity: a polled identity gets a schedule with its next run now,
//     so its first sync is sent within a scheduler tick (not one interval
//     later, as the original did). An identity that already has a schedule
//     keeps it: a redelivered add_identity sends no second sync. An
//     identity that is not polled gets no schedule.
//   - update_identity: re-reads the identity. Not polled any more (made
//     inactive): the schedule is removed. Polled without a schedule (made
//     active again): it gets one, due now. Polled with one: the next run is
//     brought forward to now + its interval when later, so a shorter
//     interval applies at once.
//   - update_interval: poll_intervall (minutes, 1 to 1440) becomes the
//     identity's interval and, for a polled identity, its next run is now +
//     the new interval: a longer interval (imap-fetch slowing down after
//     failures) and a shorter one apply at once. The same interval again
//     changes nothing. protocol is required by the contract and not used.
//   - delete_identity: removes the schedule. The API deletes the identity
//     before it publishes the order (the schedule goes with it), so an
//     unknown identity is the normal case and a success.
//
// Errors: an unknown identity for add, update and update_interval is
// permanent with code unknown_identity (the order is dead-lettered, not
// retried); a poll_intervall out of range is permanent with code
// invalid_field; a store failure is temporary (store_unavailable).
package identitiesorders
