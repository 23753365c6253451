package mastodondm

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/dmbridge"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/mastoaccount"
	"github.com/caliopen/functions/internal/mastoapi"
	"github.com/caliopen/functions/internal/mastoinbound"
	"github.com/caliopen/functions/internal/polling"
	"github.com/caliopen/functions/internal/store"
)

// walk is what a sync read: the direct statuses newer than the cursor,
// oldest first, each with its conversation.
type walk struct {
	docs     []mastoapi.StatusDoc
	complete bool      // every conversation newer than the cursor was read
	limited  time.Time // the rate-limit window's end when it stopped the walk
	pages    int
}

// sync imports the account's new direct statuses (see the package doc).
func (b *bridge) sync(ctx context.Context, ident store.Identity, log *slog.Logger) (fnhttp.Result, error) {
	s := dmbridge.Syncer{Store: b.deps.Store, Requester: b.deps.Emitter, Subject: contract.SubjectMastodonDM, Lease: b.cfg.Lease}
	return s.Sync(ctx, ident, b.deps.Now(), log, func(ctx context.Context) (fnhttp.Result, bool, error) {
		return b.syncHeld(ctx, ident, log)
	})
}

// syncHeld is the sync under the lease; more says that statuses were left
// for a follow-up sync (the budget ran out).
func (b *bridge) syncHeld(ctx context.Context, ident store.Identity, log *slog.Logger) (fnhttp.Result, bool, error) {
	now := b.deps.Now()
	c, err := b.dialer.Open(ident, b.deps.Keyring)
	if err != nil {
		return noMore(b.failed(ctx, ident, err, log))
	}
	me, err := mastoaccount.Who(ctx, c, ident, b.deps.Store)
	if err != nil {
		return noMore(b.failed(ctx, ident, err, log))
	}
	cursor := ident.Sync.Cursor
	w, err := b.walk(ctx, c, me, cursor)
	if err != nil {
		return noMore(b.failed(ctx, ident, err, log))
	}
	end := time.Now().Add(b.cfg.Budget)
	handled, failure := b.handle(ctx, ident, w, end, log)
	next := cursor
	if w.complete {
		for i, d := range w.docs {
			if !handled[i] {
				break
			}
			next = d.Status.ID
		}
	}
	report := fmt.Sprintf("pages %d, statuses %d, handled %d, cursor %q", w.pages, len(w.docs), countTrue(handled), next)
	if next != cursor || failure == nil && w.limited.IsZero() {
		if err := b.deps.Store.SaveSyncProgress(ctx, ident.UserID, ident.ID, store.SyncProgress{Cursor: next, At: now}); err != nil {
			return fnhttp.Result{}, false, storeErr("save sync progress", err)
		}
	}
	if !w.limited.IsZero() {
		return noMore(b.throttled(ctx, ident, w.limited, report, log))
	}
	if failure != nil {
		return noMore(b.failed(ctx, ident, failure, log))
	}
	if !ident.Sync.ThrottledUntil.IsZero() {
		if err := b.deps.Store.SetThrottle(ctx, ident.UserID, ident.ID, time.Time{}); err != nil {
			return fnhttp.Result{}, false, storeErr("clear the throttle", err)
		}
		b.throttler().SetInterval(ctx, ident, b.cfg.BaseInterval, log)
	}
	log.Info("direct statuses synced", "pages", w.pages, "statuses", len(w.docs), "cursor", next)
	more := countTrue(handled) < len(handled) && next != cursor
	return fnhttp.Result{Message: report}, more, nil
}

func noMore(res fnhttp.Result, err error) (fnhttp.Result, bool, error) { return res, false, err }

// walk reads the conversations newer than cursor and their threads. A rate
// limit ends it with w.limited set; other failures are returned.
func (b *bridge) walk(ctx context.Context, c *mastoapi.Client, me mastoapi.Account, cursor string) (walk, error) {
	var (
		w     walk
		convs []mastoapi.Conversation
		max   string
	)
pages:
	for w.pages < b.cfg.MaxPages {
		p, err := c.Conversations(ctx, max)
		if reset, limited := mastoapi.RateLimited(err); limited {
			w.limited = reset
			return w, nil
		}
		if err != nil {
			return walk{}, err
		}
		w.pages++
		for _, conv := range p.Conversations {
			if conv.LastStatus == nil {
				// Its last status was deleted and the instance has not
				// found the one before yet (GoToSocial lists such a
				// conversation first): nothing of it to read now.
				continue
			}
			if cursor != "" && !mastoapi.Later(conv.LastStatus.ID, cursor) {
				w.complete = true
				break pages
			}
			convs = append(convs, conv)
		}
		if p.Next == "" {
			w.complete = true
			break
		}
		if p.Rate.Known && p.Rate.Remaining <= 0 {
			w.limited = p.Rate.Reset
			break
		}
		max = p.Next
	}
	seen := map[string]bool{}
	for _, conv := range convs {
		t, rate, err := c.Thread(ctx, conv.LastStatus.ID)
		if reset, limited := mastoapi.RateLimited(err); limited {
			w.limited, w.complete = reset, false
			break
		}
		if mastoapi.IsNotFound(err) {
			continue // deleted since it was listed: the next sync sees the conversation as it is then
		}
		if err != nil {
			return walk{}, err
		}
		thread := append(append(t.Ancestors, *conv.LastStatus), t.Descendants...)
		for _, s := range thread {
			if s.Visibility != mastoapi.VisibilityDirect || seen[s.ID] || (cursor != "" && !mastoapi.Later(s.ID, cursor)) {
				continue
			}
			seen[s.ID] = true
			w.docs = append(w.docs, mastoapi.StatusDoc{Status: s, ConversationID: conv.ID, Accounts: conv.Accounts, Me: me})
		}
		if rate.Known && rate.Remaining <= 0 {
			w.limited, w.complete = rate.Reset, false
			break
		}
	}
	slices.SortFunc(w.docs, func(a, b mastoapi.StatusDoc) int {
		switch {
		case a.Status.ID == b.Status.ID:
			return 0
		case mastoapi.Later(a.Status.ID, b.Status.ID):
			return 1
		}
		return -1
	})
	return w, nil
}

// handle stores and processes w's statuses, InFlight at a time, starting
// none after end (one at least), and returns which were handled and the
// first failure.
func (b *bridge) handle(ctx context.Context, ident store.Identity, w walk, end time.Time, log *slog.Logger) ([]bool, error) {
	handled := make([]bool, len(w.docs))
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, b.cfg.InFlight)
	for i, d := range w.docs {
		if i > 0 && time.Now().After(end) || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		b.pool.Go(func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := b.importOne(ctx, ident, d, log)
			mu.Lock()
			defer mu.Unlock()
			handled[i] = err == nil
			if err != nil && first == nil {
				first = fmt.Errorf("status %s: %w", d.Status.ID, err)
			}
		})
	}
	wg.Wait()
	return handled, first
}

// importOne stores d once (content-addressed) and requests process_inbound
// for it; nil means handled.
func (b *bridge) importOne(ctx context.Context, ident store.Identity, d mastoapi.StatusDoc, log *slog.Logger) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	id, rejected, err := dmbridge.Import(ctx, b.deps.Blobs, b.deps.Emitter, contract.SubjectInboundMastodon, ident, raw, b.cfg.ProcessTimeout)
	if rejected != "" {
		log.Warn("status rejected by inbound, not retried", "raw_id", id, "status_id", d.Status.ID, "outcome", "rejected", "err", rejected)
	}
	return err
}

// failed records cause on the identity and acknowledges the order; only a
// store failure is returned.
func (b *bridge) failed(ctx context.Context, ident store.Identity, cause error, log *slog.Logger) (fnhttp.Result, error) {
	if reset, limited := mastoapi.RateLimited(cause); limited {
		return b.throttled(ctx, ident, reset, "", log)
	}
	if mastoaccount.NeedsReauth(cause) {
		return b.reauth(ctx, ident, cause, log)
	}
	return dmbridge.RecordFailure(ctx, b.deps.Store, ident, cause, b.deps.Now(), log)
}

// reauth stops the account's polling until the user authorizes it again.
func (b *bridge) reauth(ctx context.Context, ident store.Identity, cause error, log *slog.Logger) (fnhttp.Result, error) {
	changed, err := polling.RequireReauth(ctx, b.deps.Store, ident, mastoinbound.NotificationEmitter,
		"the Mastodon instance refused the account's access token (revoked or expired): authorize the account again")
	if err != nil {
		return fnhttp.Result{}, err
	}
	log.Warn("token refused: the account must be authorized again", "outcome", "reauth_required",
		"notified", changed, "err", truncate(cause.Error()))
	return fnhttp.Result{Message: "token refused: identity " + ident.ID + " needs a new access token"}, nil
}

func truncate(s string) string { return dmbridge.Truncate(s) }

// throttled records the rate-limit window's end and slows polling down.
func (b *bridge) throttled(ctx context.Context, ident store.Identity, reset time.Time, report string, log *slog.Logger) (fnhttp.Result, error) {
	return b.throttler().Throttled(ctx, ident, b.deps.Now(), reset, report, log)
}

func (b *bridge) throttler() dmbridge.Throttler {
	return dmbridge.Throttler{Store: b.deps.Store, Publisher: b.deps.Emitter, Protocol: store.ProtocolMastodon,
		BaseInterval: b.cfg.BaseInterval, MaxInterval: b.cfg.MaxInterval}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
