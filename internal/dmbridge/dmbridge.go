// Package dmbridge is what the direct message bridges (twitter-dm,
// mastodon-dm) share: a rate limit recorded on the identity with a slower
// poll interval (update_interval on identitiesWorker), the outcome of a
// draft that could not be taken for sending, a draft released after a
// failed send, and the sent copy kept in the blob store between the
// hand-off and the mark.
package dmbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

// Publisher publishes orders; *emit.Emitter is one.
type Publisher interface {
	Publish(ctx context.Context, subject string, payload any) error
}

// StoreErr is a temporary store failure of op.
func StoreErr(op string, err error) error {
	return fnhttp.WithCode(faults.Temp(fmt.Errorf("%s: %w", op, err)), "store_unavailable")
}

// Throttler records rate limits of identities of one protocol.
type Throttler struct {
	Store interface {
		SetThrottle(ctx context.Context, userID, identityID string, until time.Time) error
	}
	Publisher Publisher
	Protocol  string
	// BaseInterval is the poll interval of an identity without its own;
	// MaxInterval caps the slowed one.
	BaseInterval, MaxInterval time.Duration
}

// Throttled records the rate-limit window's end on ident (no sync before
// it) and slows its polling down: twice its interval, or the window, at
// most MaxInterval. report, when given, leads the result's message.
func (t Throttler) Throttled(ctx context.Context, ident store.Identity, now, reset time.Time, report string, log *slog.Logger) (fnhttp.Result, error) {
	if reset.Before(now) {
		reset = now.Add(time.Minute)
	}
	if err := t.Store.SetThrottle(ctx, ident.UserID, ident.ID, reset); err != nil {
		return fnhttp.Result{}, StoreErr("record the rate limit", err)
	}
	current := ident.PollInterval
	if current <= 0 {
		current = t.BaseInterval
	}
	wait := reset.Sub(now).Truncate(time.Minute) + time.Minute
	t.SetInterval(ctx, ident, min(max(2*current, wait), t.MaxInterval), log)
	msg := "rate limited until " + reset.UTC().Format(time.RFC3339)
	if report != "" {
		msg = report + "; " + msg
	}
	log.Warn("rate limited", "outcome", "throttled", "reset", reset.UTC().Format(time.RFC3339))
	return fnhttp.Result{Message: msg}, nil
}

// SetInterval publishes update_interval on identitiesWorker, the seed's
// payload. A failed publish is logged: the next sync tries again.
func (t Throttler) SetInterval(ctx context.Context, ident store.Identity, d time.Duration, log *slog.Logger) {
	order := contract.IdentityOrder{IdentityID: ident.ID, Order: contract.OrderUpdateInterval,
		PollIntervall: contract.Minutes(d / time.Minute), Protocol: t.Protocol, UserID: ident.UserID}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := t.Publisher.Publish(pctx, contract.SubjectIdentitiesWorker, order); err != nil {
		log.Warn("poll interval not updated", "poll_minutes", int(d/time.Minute), "err", err.Error())
		return
	}
	log.Info("poll interval updated", "poll_minutes", int(d/time.Minute))
}

// Drafts is what the deliver side needs of the store.
type Drafts interface {
	GetMessage(ctx context.Context, userID, id string) (store.Message, error)
	MarkSendFailed(ctx context.Context, userID, id, reason string) error
}

// SentText is the success message of a deliver, as smtp-deliver's.
func SentText(id string) string { return "message " + id + " has been sent." }

// NotTaken explains a BeginSend of draft id that failed: already sent
// (success), being sent, not a draft, unknown, or the store failing.
func NotTaken(ctx context.Context, st Drafts, userID, id string, err error, log *slog.Logger) (string, error) {
	if !errors.Is(err, store.ErrConflict) {
		if errors.Is(err, store.ErrNotFound) {
			return "", fnhttp.WithCode(faults.Perm(fmt.Errorf("begin send of %s: %w", id, err)), "unknown_message")
		}
		return "", StoreErr("begin send of "+id, err)
	}
	m, gerr := st.GetMessage(ctx, userID, id)
	switch {
	case errors.Is(gerr, store.ErrNotFound):
		return "", fnhttp.WithCode(faults.Perm(fmt.Errorf("load message %s: %w", id, gerr)), "unknown_message")
	case gerr != nil:
		return "", StoreErr("load message "+id, gerr)
	case m.SendState == store.SendSent:
		log.Info("already sent", "outcome", "duplicate")
		return SentText(id), nil
	case m.SendState == store.SendSending:
		return "", fnhttp.WithCode(faults.Temp(fmt.Errorf("message %s is being sent by another attempt", id)), "send_in_progress")
	}
	return "", fnhttp.WithCode(faults.Perm(fmt.Errorf("message %s is not a draft", id)), "not_a_draft")
}

// Release marks draft m failed with cause's text (nothing went out) and
// returns cause.
func Release(ctx context.Context, st Drafts, m store.Message, cause error, log *slog.Logger) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := st.MarkSendFailed(rctx, m.UserID, m.ID, cause.Error()); err != nil {
		log.Warn("draft not marked failed", "err", err.Error())
	}
	return cause
}

// CopyKey is the blob key of the sent copy with raw message id rawID.
func CopyKey(rawID string) string { return "sent/" + rawID + ".json" }

// PutCopy stores v as the sent copy of attempt rawID.
func PutCopy(ctx context.Context, blobs blob.Store, rawID string, v any) error {
	raw, err := json.Marshal(v)
	if err == nil {
		err = blobs.Put(ctx, CopyKey(rawID), bytes.NewReader(raw), int64(len(raw)))
	}
	if err != nil {
		return fnhttp.WithCode(faults.Temp(fmt.Errorf("store the sent copy: %w", err)), "blob_unavailable")
	}
	return nil
}

// StoredCopy reads the sent copy of attempt rawID into v, and says whether
// it was stored.
func StoredCopy(ctx context.Context, blobs blob.Store, rawID string, v any) (bool, error) {
	raw, err := blob.ReadLimited(ctx, blobs, CopyKey(rawID), 1<<20)
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		return false, fnhttp.WithCode(faults.Temp(fmt.Errorf("read an earlier attempt's sent copy: %w", err)), "blob_unavailable")
	}
	return true, nil
}

// Requester sends request/reply orders; *emit.Emitter is one.
type Requester interface {
	Request(ctx context.Context, subject string, payload any) ([]byte, error)
}

// Import stores raw once (content-addressed, store.RawID) and requests
// process_inbound for it on subject, for identity ident, within timeout.
// A permanent refusal by the inbound function is not retried: rejected is
// its code and err nil. Any other failure is returned: the message is
// read again by the next sync.
func Import(ctx context.Context, blobs blob.Store, req Requester, subject string, ident store.Identity, raw []byte,
	timeout time.Duration) (rawID, rejected string, err error) {
	rawID = store.RawID(raw)
	if err := blobs.Put(ctx, store.RawKey(rawID), bytes.NewReader(raw), int64(len(raw))); err != nil {
		return rawID, "", fmt.Errorf("store raw message %s: %w", rawID, err)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	order := contract.DeliverOrder{MessageID: rawID, Order: contract.OrderProcessInbound, RemoteID: ident.ID, UserID: ident.UserID}
	if _, err := emit.ProcessInbound(pctx, req, subject, order); err != nil {
		var re *emit.RequestError
		if errors.As(err, &re) && re.Replied && re.Permanent() {
			return rawID, re.Code, nil
		}
		return rawID, "", fmt.Errorf("process_inbound of %s: %w", rawID, err)
	}
	return rawID, "", nil
}

// MaxErrorText bounds the failure text stored on an identity.
const MaxErrorText = 500

// RecordFailure records cause on the identity (its text bounded) and
// acknowledges the order; only a store failure is returned.
func RecordFailure(ctx context.Context, st interface {
	RecordSyncError(ctx context.Context, userID, identityID, msg string, at time.Time) (store.SyncState, error)
}, ident store.Identity, cause error, now time.Time, log *slog.Logger) (fnhttp.Result, error) {
	msg := Truncate(cause.Error())
	s, err := st.RecordSyncError(ctx, ident.UserID, ident.ID, msg, now)
	if err != nil {
		return fnhttp.Result{}, StoreErr("record sync error ("+msg+")", err)
	}
	log.Warn("sync failed", "outcome", faults.ClassOf(cause).String(), "errors", s.ErrorCount, "err", msg)
	return fnhttp.Result{Message: "failure recorded: " + msg}, nil
}

// Truncate bounds s to MaxErrorText bytes.
func Truncate(s string) string {
	if len(s) > MaxErrorText {
		return s[:MaxErrorText]
	}
	return s
}
