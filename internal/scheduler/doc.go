// Package scheduler is the always-on pod that replaces the original
// identities-worker's cron table (imapJob.Run, twitterJob.Run): every tick
// it reads the due schedules from the store and sends a sync order
// ({"order":"sync","remote_id":...,"user_id":...}, the seed's bytes) on
// IMAPfetcher for e-mail identities and on twitter_dm for Twitter ones.
//
// The schedule lives in the store, not in memory: identities-orders
// writes it (a new identity is due at once), the scheduler moves each run
// to its next time, so a restart loses nothing and rebuilds nothing.
//
// Two replicas do not double the orders: a due run is claimed with a
// compare-and-set on its next-run time (store.ClaimDue) before the
// order is sent, and only the replica whose claim moved the row sends it.
// The claim also sets the next run (the identity's interval, ±jitter), so
// the order is sent after the claim: a crash between the two loses one sync,
// which the next run makes up (a sync resumes from the stored cursor; no
// mail is skipped). A send that fails is retried after RetryDelay.
//
// A restart does not cause a burst: a run more than Grace late is not
// fired but moved to a random time within min(Spread, interval), so a
// backlog drains at about backlog/Spread orders a second (package
// schedule).
//
// Catch-up is bounded per tick: a tick reads the due runs the most
// overdue first and claims at most MaxPerTick of them
// (SCHEDULER_MAX_PER_TICK, default 1000), each batch in one store
// transaction; the rest waits for the next ticks, where it is still the
// most overdue, so no identity starves. A tick stopped by the bound counts
// the runs still due, spreads the overdue runs of the next ticks after
// that backlog (so they do not come due behind it), logs "catching up" with overdue and catch_up_s, and
// sets the gauges caliopen_scheduler_backlog_runs and
// caliopen_scheduler_catch_up_seconds. Claiming a backlog of N runs takes
// ceil(N/MaxPerTick) ticks (Config.CatchUp): 100,000 identities after an
// hour down take 100 one-second ticks, and their syncs are all sent within
// 100 s + Spread (5 min) of the restart. Replicas share the backlog through
// the claim, so k of them take about a k-th of the ticks. As nothing is
// kept in memory, a scheduler restarted during a catch-up resumes it: a
// claimed run is not claimed again, an unclaimed one stays due.
//
// Sends: IMAPfetcher is captured by the connector's stream, so the order
// is published and acknowledged by JetStream (internal/emit). twitter_dm
// also carries request/reply deliver orders and stays on core NATS, so the
// sync is sent as a request: the connector hands it off to its stream and
// answers {"error":false,"message":"accepted"}, which is the
// acknowledgement; nothing acknowledged means a retry.
package scheduler
