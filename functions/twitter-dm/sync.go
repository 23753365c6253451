package twitterdm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/dmbridge"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/oauth2creds"
	"github.com/caliopen/functions/internal/polling"
	"github.com/caliopen/functions/internal/rawimport"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xaccount"
	"github.com/caliopen/functions/internal/xapi"
	"github.com/caliopen/functions/internal/xinbound"
)

// walk is what a sync read of the account's events.
type walk struct {
	events   []xapi.Event // newer than the cursor, oldest first
	users    map[string]xapi.User
	media    map[string]xapi.Media
	complete bool      // reached the cursor or the end
	next     string    // the page token below what a cut walk read
	limited  time.Time // the rate-limit window's end when it stopped the walk
	pages    int
}

// sync imports the account's new events (see the package doc). A
// follow-up sync goes on twitter_dm as the scheduler sends it: no stream
// captures twitter_dm (it carries deliver requests), so it is a request,
// which the connector hands off to its stream and answers
// {"error":false,"message":"accepted"}.
func (b *bridge) sync(ctx context.Context, ident store.Identity, log *slog.Logger) (fnhttp.Result, error) {
	s := dmbridge.Syncer{Store: b.deps.Store, Requester: b.deps.Emitter, Subject: contract.SubjectTwitterDM, Lease: b.cfg.Lease}
	return s.Sync(ctx, ident, b.deps.Now(), log, func(ctx context.Context) (fnhttp.Result, bool, error) {
		return b.syncHeld(ctx, ident, log)
	})
}

// syncHeld is the sync under the lease; more says that events were left
// for a follow-up sync (the budget ran out).
func (b *bridge) syncHeld(ctx context.Context, ident store.Identity, log *slog.Logger) (fnhttp.Result, bool, error) {
	now := b.deps.Now()
	acct, err := xaccount.Open(ctx, b.cfg.X, ident, b.deps.Keyring, b.deps.Tokens)
	if err != nil {
		return noMore(b.failed(ctx, ident, err, log))
	}
	me, err := xaccount.Who(ctx, acct, b.deps.Store, false)
	if err != nil {
		return noMore(b.failed(ctx, ident, err, log))
	}
	pos := parsePosition(ident.Sync.Cursor)
	end := time.Now().Add(b.cfg.Budget)
	w, err := b.walk(ctx, acct.Client, pos.cursor, pos.token, end)
	if err != nil && pos.token != "" && faults.IsPermanent(err) && !xaccount.NeedsReauth(err) {
		// X no longer takes the page token of a cut walk: walk again from the top.
		if serr := b.deps.Store.SaveSyncProgress(ctx, ident.UserID, ident.ID,
			store.SyncProgress{Cursor: position{cursor: pos.cursor}.String(), At: now}); serr != nil {
			return fnhttp.Result{}, false, storeErr("save sync progress", serr)
		}
	}
	if err != nil {
		return noMore(b.failed(ctx, ident, err, log))
	}
	b.remember(ctx, ident, me, w, log)
	handled, failures := b.handle(ctx, ident, me, w, end, log)
	all := countTrue(handled) == len(handled)
	next := nextPosition(pos, w, handled, all)
	report := fmt.Sprintf("pages %d, events %d, handled %d, position %q", w.pages, len(w.events), countTrue(handled), next.String())
	if failures != nil || !w.limited.IsZero() {
		if next != pos {
			if err := b.deps.Store.SaveSyncProgress(ctx, ident.UserID, ident.ID, store.SyncProgress{Cursor: next.String(), At: now}); err != nil {
				return fnhttp.Result{}, false, storeErr("save sync progress", err)
			}
		}
		if !w.limited.IsZero() {
			return noMore(b.throttled(ctx, ident, w.limited, report, log))
		}
		return noMore(b.failed(ctx, ident, failures, log))
	}
	if err := b.deps.Store.SaveSyncProgress(ctx, ident.UserID, ident.ID, store.SyncProgress{Cursor: next.String(), At: now}); err != nil {
		return fnhttp.Result{}, false, storeErr("save sync progress", err)
	}
	if !ident.Sync.ThrottledUntil.IsZero() {
		if err := b.deps.Store.SetThrottle(ctx, ident.UserID, ident.ID, time.Time{}); err != nil {
			return fnhttp.Result{}, false, storeErr("clear the throttle", err)
		}
		b.setInterval(ctx, ident, b.cfg.BaseInterval, log)
	}
	log.Info("direct messages synced", "pages", w.pages, "events", len(w.events), "position", next.String())
	// What the budget or the page limit left: a follow-up sync goes on,
	// provided this one made progress.
	more := (!all || !w.complete) && next != pos
	return fnhttp.Result{Message: report}, more, nil
}

// remember records the usernames and ids of the users w's events name, so
// that sending to one of them asks X nothing (store.RemoteHandles). A
// failure costs a lookup later, nothing else.
func (b *bridge) remember(ctx context.Context, ident store.Identity, me xapi.User, w walk, log *slog.Logger) {
	if len(w.events) == 0 {
		return
	}
	ids := make(map[string]string, len(w.users))
	for _, u := range w.users {
		if u.ID != me.ID && u.Username != "" && xapi.IsID(u.ID) {
			ids[u.Username] = u.ID
		}
	}
	if err := b.deps.Store.RememberHandles(ctx, ident.UserID, store.ProtocolTwitter, ids); err != nil {
		log.Warn("correspondents' ids not remembered", "err", err.Error())
	}
}

// noMore passes a result on with no follow-up.
func noMore(res fnhttp.Result, err error) (fnhttp.Result, bool, error) { return res, false, err }

// position is where the next sync starts, kept as the identity's sync
// cursor: the newest event handled with everything before it (cursor),
// and while a walk cut short (rate limit, MaxPages) is being resumed, the
// page token below what it read (token) and the newest event it read
// (head), which becomes the cursor once the pages below are handled.
type position struct{ cursor, token, head string }

// String is the stored form: "cursor" or "cursor token head" (cursor "0"
// before any event was handled).
func (p position) String() string {
	if p.token == "" {
		return p.cursor
	}
	cursor := p.cursor
	if cursor == "" {
		cursor = "0" // every event is later
	}
	return cursor + " " + p.token + " " + p.head
}

func parsePosition(s string) position {
	f := strings.Fields(s)
	if len(f) == 3 {
		return position{cursor: f[0], token: f[1], head: f[2]}
	}
	if len(f) == 1 && xapi.IsID(f[0]) {
		return position{cursor: f[0]}
	}
	return position{}
}

// nextPosition is where the sync after walk w starts. A complete walk
// moves the cursor over the longest run of handled events from the
// oldest (to the head of the walk it resumed, when all were handled). A
// cut walk whose events were all handled is resumed below them; one with
// a failure is read again.
func nextPosition(pos position, w walk, handled []bool, all bool) position {
	newest := pos.cursor
	if n := len(w.events); n > 0 {
		newest = w.events[n-1].ID
	}
	switch {
	case w.complete && all && pos.head != "":
		return position{cursor: pos.head}
	case w.complete:
		cursor := pos.cursor
		for i, ev := range w.events {
			if !handled[i] {
				break
			}
			cursor = ev.ID
		}
		return position{cursor: cursor}
	case all && w.next != "" && !strings.ContainsAny(w.next, " \t\n"):
		head := pos.head
		if head == "" {
			head = newest
		}
		return position{cursor: pos.cursor, token: w.next, head: head}
	}
	return pos
}

// walk pages the events newer than cursor, newest first, from page token
// (the first page when ""), until end (one page at least), and returns
// them oldest first. A rate limit ends it with w.limited set; other API
// failures are returned.
func (b *bridge) walk(ctx context.Context, c *xapi.Client, cursor, token string, end time.Time) (walk, error) {
	w := walk{users: map[string]xapi.User{}, media: map[string]xapi.Media{}}
	var newest []xapi.Event
	q := xapi.EventsQuery{MaxResults: xapi.MaxResults, PaginationToken: token}
	for w.pages < b.cfg.MaxPages && (w.pages == 0 || time.Now().Before(end)) {
		p, err := c.DMEvents(ctx, q)
		if reset, limited := xapi.RateLimited(err); limited {
			w.limited = reset
			break
		}
		if err != nil {
			return walk{}, err
		}
		w.pages++
		for _, u := range p.Includes.Users {
			w.users[u.ID] = u
		}
		for _, m := range p.Includes.Media {
			w.media[m.MediaKey] = m
		}
		reached := false
		for _, ev := range p.Events {
			if cursor != "" && !xapi.Later(ev.ID, cursor) {
				reached = true
				break
			}
			newest = append(newest, ev)
		}
		if reached || p.NextToken == "" {
			w.complete = true
			break
		}
		q.PaginationToken = p.NextToken
		if p.Rate.Known && p.Rate.Remaining <= 0 {
			w.limited = p.Rate.Reset // the next page would be refused
			break
		}
	}
	if !w.complete {
		w.next = q.PaginationToken
	}
	slices.Reverse(newest)
	w.events = newest
	return w, nil
}

// handle stores and processes w's events, InFlight at a time, starting
// none after end (one at least), and returns which were handled and the
// first failure. The raw events are stored by chunks, each processed once
// its chunk is stored (package rawimport, shared with imap-fetch).
func (b *bridge) handle(ctx context.Context, ident store.Identity, me xapi.User, w walk, end time.Time, log *slog.Logger) ([]bool, error) {
	handled := make([]bool, len(w.events))
	var (
		mu    sync.Mutex
		first error
	)
	outcome := func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		handled[i] = err == nil
		if err != nil && first == nil {
			first = fmt.Errorf("event %s: %w", w.events[i].ID, err)
		}
	}
	run := rawimport.Start(ctx, rawimport.Config{Blobs: b.deps.Blobs, Pool: &b.pool, InFlight: b.cfg.InFlight,
		Process: func(ctx context.Context, it rawimport.Item) {
			outcome(it.Index, b.processOne(ctx, ident, it.ID, w.events[it.Index].ID, log))
		},
		Failed: func(it rawimport.Item, err error) { outcome(it.Index, err) }})
	started := 0
	for i, ev := range w.events {
		if started > 0 && time.Now().After(end) || ctx.Err() != nil {
			break // the rest is left to a follow-up sync; each sync handles one at least
		}
		if ev.EventType != xapi.MessageCreate {
			handled[i] = true
			continue
		}
		started++
		raw, err := json.Marshal(doc(ev, me, w))
		if err != nil {
			outcome(i, err)
			continue
		}
		run.Add(rawimport.NewItem(i, raw))
	}
	run.Wait()
	return handled, first
}

// doc is the raw message of event ev: the event with the users it names
// (its sender, the members of its one-to-one conversation, its
// participants, the account) and its media.
func doc(ev xapi.Event, me xapi.User, w walk) xapi.EventDoc {
	d := xapi.EventDoc{Data: ev}
	ids := []string{ev.SenderID, me.ID}
	if a, b, ok := strings.Cut(ev.DMConversationID, "-"); ok {
		ids = append(ids, a, b)
	}
	ids = append(ids, ev.ParticipantIDs...)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || id == "" {
			continue
		}
		seen[id] = true
		if u, ok := w.users[id]; ok {
			d.Includes.Users = append(d.Includes.Users, u)
		} else if id == me.ID {
			d.Includes.Users = append(d.Includes.Users, me)
		}
	}
	if ev.Attachments != nil {
		for _, k := range ev.Attachments.MediaKeys {
			if m, ok := w.media[k]; ok {
				d.Includes.Media = append(d.Includes.Media, m)
			}
		}
	}
	return d
}

// processOne requests process_inbound for stored raw event id (X event
// eventID); nil means handled.
func (b *bridge) processOne(ctx context.Context, ident store.Identity, id, eventID string, log *slog.Logger) error {
	pctx, cancel := context.WithTimeout(ctx, b.cfg.ProcessTimeout)
	defer cancel()
	order := contract.DeliverOrder{MessageID: id, Order: contract.OrderProcessInbound, RemoteID: ident.ID, UserID: ident.UserID}
	if _, err := emit.ProcessInbound(pctx, b.deps.Emitter, contract.SubjectInboundTwitter, order); err != nil {
		var re *emit.RequestError
		if errors.As(err, &re) && re.Replied && re.Permanent() {
			log.Warn("event rejected by inbound-twitter, not retried", "raw_id", id, "event_id", eventID,
				"outcome", "rejected", "err", re.Code)
			return nil
		}
		return fmt.Errorf("process_inbound of %s: %w", id, err)
	}
	return nil
}

// failed records cause on the identity and acknowledges the order; only a
// store failure is returned.
func (b *bridge) failed(ctx context.Context, ident store.Identity, cause error, log *slog.Logger) (fnhttp.Result, error) {
	if reset, limited := xapi.RateLimited(cause); limited {
		return b.throttled(ctx, ident, reset, "", log)
	}
	if xaccount.NeedsReauth(cause) {
		return b.reauth(ctx, ident, cause, log)
	}
	return dmbridge.RecordFailure(ctx, b.deps.Store, ident, cause, b.deps.Now(), log)
}

// reauth stops the account's polling until the user authorizes it again
// (polling.RequireReauth: status reauth_required, a notification), and
// acknowledges the order; only a store failure is returned.
func (b *bridge) reauth(ctx context.Context, ident store.Identity, cause error, log *slog.Logger) (fnhttp.Result, error) {
	changed, err := polling.RequireReauth(ctx, b.deps.Store, ident, xinbound.NotificationEmitter, reauthReason(cause))
	if err != nil {
		return fnhttp.Result{}, err
	}
	log.Warn("credentials refused: the account must be authorized again", "outcome", "reauth_required",
		"notified", changed, "err", truncate(cause.Error()))
	return fnhttp.Result{Message: "credentials refused: identity " + ident.ID + " needs new credentials"}, nil
}

// reauthReason says in the user's words what X refused.
func reauthReason(cause error) string {
	if errors.Is(cause, oauth2creds.ErrReauth) {
		return "X refused the account's refresh token (revoked, expired or already used): authorize the account again"
	}
	return "X refused the account's credentials (revoked or expired tokens): authorize the account again"
}

func truncate(s string) string { return dmbridge.Truncate(s) }

// throttled records the rate-limit window's end and slows polling down.
func (b *bridge) throttled(ctx context.Context, ident store.Identity, reset time.Time, report string, log *slog.Logger) (fnhttp.Result, error) {
	return b.throttler().Throttled(ctx, ident, b.deps.Now(), reset, report, log)
}

// setInterval publishes update_interval on identitiesWorker.
func (b *bridge) setInterval(ctx context.Context, ident store.Identity, d time.Duration, log *slog.Logger) {
	b.throttler().SetInterval(ctx, ident, d, log)
}

func (b *bridge) throttler() dmbridge.Throttler {
	return dmbridge.Throttler{Store: b.deps.Store, Publisher: b.deps.Emitter, Protocol: store.ProtocolTwitter,
		BaseInterval: b.cfg.BaseInterval, MaxInterval: b.cfg.MaxInterval}
}

func storeErr(op string, err error) error { return dmbridge.StoreErr(op, err) }

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
