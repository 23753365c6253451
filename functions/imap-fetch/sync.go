package imapfetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/imapsync"
	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/rawimport"
	"github.com/caliopen/functions/internal/store"
)

// syncRun is one invocation's sync of one identity.
type syncRun struct {
	f     *fetcher
	ident store.Identity
	full  bool
	log   *slog.Logger
}

// sync fetches one batch and saves the cursor. Account failures are
// recorded and return no error; store failures are temporary errors.
func (r *syncRun) sync(ctx context.Context) (outcome, error) {
	cfg := r.f.cfg
	if r.f.deps.Tokens != nil {
		ident, err := r.f.deps.Tokens.Fresh(ctx, r.ident)
		if err != nil {
			// Classified by the refresher: temporary when the token
			// endpoint may answer later, permanent when the user must
			// authorize again.
			return r.failed(ctx, outcome{}, err, err.Error())
		}
		r.ident = ident
	}
	acct, err := imapsync.AccountOf(r.ident, r.f.deps.Keyring, cfg.IMAPTimeout, cfg.Guard)
	if err != nil {
		return r.failed(ctx, outcome{}, err, mailconn.UserError(err))
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.Budget+cfg.IMAPTimeout+cfg.ProcessTimeout)
	defer cancel()
	t0 := time.Now()
	sess, err := imapsync.Open(sctx, acct)
	if err != nil {
		return r.failed(ctx, outcome{}, err, mailconn.UserError(err))
	}
	defer sess.Close()
	cursor, uidv := r.start(sess.Box)
	out := outcome{cursor: cursor}
	uids, err := sess.UIDsAfter(cursor)
	if err != nil {
		return r.failed(ctx, out, err, mailconn.UserError(err))
	}
	batch := uids[:min(len(uids), cfg.Batch)]
	t1 := time.Now()
	b := r.fetchBatch(sctx, sess, batch)
	r.log.Info("batch fetched", "uids_above_cursor", len(uids), "batch", len(batch), "fetched", b.fetched,
		"processed", b.processed, "rejected", b.rejected, "open_search_ms", t1.Sub(t0).Milliseconds(), "batch_ms", time.Since(t1).Milliseconds())
	out.fetched, out.processed, out.failed, out.rejected = b.fetched, b.processed, b.failed, b.rejected
	out.cursor = b.advance(cursor, batch)
	if out.cursor != cursor || uidv != r.ident.Sync.UIDValidity || b.clean() {
		// Saved even when the invocation ends (its context cancelled): what
		// it finished is not ordered again by the next one.
		p := store.SyncProgress{Cursor: strconv.FormatUint(uint64(out.cursor), 10), UIDValidity: uidv, At: r.f.deps.Now()}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := r.f.deps.Store.SaveSyncProgress(pctx, r.ident.UserID, r.ident.ID, p)
		cancel()
		if err != nil {
			return out, fnhttp.WithCode(faults.Temp(fmt.Errorf("save sync progress: %w", err)), "store_unavailable")
		}
	}
	r.notify(ctx, b)
	if !b.clean() {
		return r.failed(ctx, out, b.failure(), b.shown())
	}
	out.more = len(uids) > len(batch) || len(batch) > 0 && out.cursor < uint32(batch[len(batch)-1])
	r.recovered(ctx)
	return out, nil
}

// start returns the cursor to resume from and the mailbox's UIDVALIDITY:
// 0 for fullfetch, and for a changed UIDVALIDITY (re-import; dedup keeps
// doubles out).
func (r *syncRun) start(box imapsync.Mailbox) (uint32, uint32) {
	st := r.ident.Sync
	cursor, _ := strconv.ParseUint(st.Cursor, 10, 32)
	switch {
	case r.full:
		cursor = 0
	case st.UIDValidity != box.UIDValidity && (cursor != 0 || st.UIDValidity != 0):
		r.log.Info("UIDVALIDITY changed, re-importing INBOX", "was", st.UIDValidity, "now", box.UIDValidity)
		cursor = 0
	}
	return uint32(cursor), box.UIDValidity
}

// batchResult is what happened to each UID of a batch.
type batchResult struct {
	mu                         sync.Mutex
	ok                         map[imap.UID]bool // processed (true) or failed (false)
	fetched, processed, failed int
	rejected                   int                     // processed, but refused for good
	fetchErr                   error                   // the fetch broke off
	cut                        bool                    // the budget ended the fetch
	firstErr                   error                   // first message failure
	fresh                      int                     // messages new to the user
	notified                   []contract.InboundReply // the first notifyElements of them
}

// notifyElements is the most messages a sync's notification lists, as the
// original's notification batches.
const notifyElements = 20

// added counts reply's message when it is new to the user.
func (b *batchResult) added(reply contract.InboundReply) {
	if reply.MessageID == "" {
		return
	}
	b.fresh++
	if len(b.notified) < notifyElements {
		b.notified = append(b.notified, reply)
	}
}

// clean says that every fetched message was processed and the fetch ended
// normally (or at the budget).
func (b *batchResult) clean() bool { return b.fetchErr == nil && b.failed == 0 }

// failure is what to record for an unclean batch.
func (b *batchResult) failure() error {
	if b.fetchErr != nil {
		return b.fetchErr
	}
	return fmt.Errorf("%d messages not processed, first: %w", b.failed, b.firstErr)
}

// shown is what the user is told of the batch's failure: the class of a
// fetch that failed (never the server's words), or how many messages
// were not processed.
func (b *batchResult) shown() string {
	if b.fetchErr != nil {
		return mailconn.UserError(b.fetchErr)
	}
	return b.failure().Error()
}

// advance returns the highest UID of the longest processed prefix of
// batch. A UID the server did not return (expunged meanwhile) counts as
// processed when the fetch completed.
func (b *batchResult) advance(cursor uint32, batch []imap.UID) uint32 {
	complete := b.fetchErr == nil && !b.cut
	for _, uid := range batch {
		ok, seen := b.ok[uid]
		if !ok && (seen || !complete) {
			break
		}
		cursor = uint32(uid)
	}
	return cursor
}

// fetchBatch fetches batch and stores and processes its messages until
// the budget ends: stored by chunks, each processed once its chunk is
// stored, InFlight at a time (package rawimport).
func (r *syncRun) fetchBatch(ctx context.Context, sess *imapsync.Session, batch []imap.UID) *batchResult {
	b := &batchResult{ok: make(map[imap.UID]bool, len(batch))}
	end := time.Now().Add(r.f.cfg.Budget)
	run := rawimport.Start(ctx, rawimport.Config{Blobs: r.f.deps.Blobs, Pool: &r.f.pool, InFlight: r.f.cfg.InFlight,
		Process: func(ctx context.Context, it rawimport.Item) {
			reply, err := r.f.processOne(ctx, r.ident, it.ID, r.log)
			b.done(imap.UID(it.Index), reply, err)
		},
		Failed: func(it rawimport.Item, err error) { b.done(imap.UID(it.Index), contract.InboundReply{}, err) }})
	b.fetchErr = sess.Fetch(batch, func(uid imap.UID, raw []byte) bool {
		if time.Now().After(end) || ctx.Err() != nil {
			b.cut = true
			return false
		}
		run.Add(rawimport.NewItem(int(uid), raw))
		return true
	})
	run.Wait() // what was fetched before the end, a cut or a failure too
	if b.fetchErr != nil && ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		b.fetchErr = fmt.Errorf("sync budget exceeded: %w", b.fetchErr)
	}
	return b
}

// done records the outcome of uid.
func (b *batchResult) done(uid imap.UID, reply contract.InboundReply, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fetched++
	b.ok[uid] = err == nil
	if err == nil {
		b.processed++
		if reply.Error != "" {
			b.rejected++
			return
		}
		b.added(reply)
		return
	}
	b.failed++
	if b.firstErr == nil {
		b.firstErr = fmt.Errorf("uid %d: %w", uid, err)
	}
}

// notify stores one new_message notification for the messages of b that
// are new to the user, as the original's imap_worker saved one a sync:
// {"size":N,"elements":[{"body":{"message_id":…,"discussion_id":…}},…]},
// listing at most notifyElements. A failure is logged: the messages are
// stored, and a notification is a hint that expires.
func (r *syncRun) notify(ctx context.Context, b *batchResult) {
	if b.fresh == 0 {
		return
	}
	type element struct {
		Body struct {
			MessageID    string `json:"message_id"`
			DiscussionID string `json:"discussion_id"`
		} `json:"body"`
	}
	elements := make([]element, len(b.notified))
	for i, m := range b.notified {
		elements[i].Body.MessageID, elements[i].Body.DiscussionID = m.MessageID, m.DiscussionID
	}
	body, _ := json.Marshal(struct {
		Size     int       `json:"size"`
		Elements []element `json:"elements"`
	}{b.fresh, elements}) // cannot fail
	n := store.Notification{UserID: r.ident.UserID, Type: store.NewMessageNotification, Emitter: NotificationEmitter,
		Reference: r.ident.ID, Body: string(body), ExpiresAt: r.f.deps.Now().Add(store.LongLivedNotification)}
	if _, err := r.f.deps.Store.CreateNotification(ctx, n); err != nil {
		r.log.Warn("sync notification not stored", "new_messages", b.fresh, "err", err.Error())
	}
}
