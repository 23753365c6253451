package twitterdm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/dmbridge"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xaccount"
	"github.com/caliopen/functions/internal/xapi"
)

// threadPrefix begins the discussion key of a conversation (as
// inbound-twitter's).
const threadPrefix = "twitter:"

// copyKey is the blob key of the sent copy with raw message id rawID.
func copyKey(rawID string) string { return dmbridge.CopyKey(rawID) }

// sentText is the success message, as smtp-deliver's.
func sentText(id string) string { return dmbridge.SentText(id) }

// sentCopy is what the sent copy holds: the event as X created it (ID
// empty until X answered) and the target it was posted to.
type sentCopy struct {
	xapi.EventDoc
	To string `json:"to"` // "user:<id>" or "conversation:<id>"
}

// deliver sends draft id from account ident once (see the package doc).
func (b *bridge) deliver(ctx context.Context, ident store.Identity, id string, log *slog.Logger) (string, error) {
	if ident.Status == store.ReauthRequired {
		return "", fnhttp.WithMessage(fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s waits for new credentials", ident.ID)),
			contract.CodeReauthRequired), "X refused this account's credentials: authorize it again, then send the draft again")
	}
	var c sentCopy
	t, err := dmbridge.Take(ctx, b.deps.Store, b.deps.Blobs, ident, id, b.cfg.SendLease, b.deps.Now(), &c, log)
	if err != nil || t.Done != "" {
		return t.Done, err
	}
	if t.Stored {
		log.Warn("finishing a send that an earlier attempt may have handed off", "outcome", "recovered")
		return b.finish(ctx, t.Msg, t.Attempt, c, log)
	}
	if t.Earlier {
		log.Info("sending a draft that an earlier attempt left before storing its copy", "outcome", "taken_over")
	}
	return b.send(ctx, ident, t.Msg, t.Attempt, log)
}

// release marks draft m failed with cause's text (nothing went out) and
// returns cause.
func (b *bridge) release(ctx context.Context, m store.Message, cause error, log *slog.Logger) error {
	return dmbridge.Release(ctx, b.deps.Store, m, cause, log)
}

// send posts draft m as attempt a and finishes it.
func (b *bridge) send(ctx context.Context, ident store.Identity, m store.Message, a store.SendAttempt, log *slog.Logger) (string, error) {
	text := strings.TrimSpace(m.BodyPlain)
	if text == "" {
		return "", b.release(ctx, m, fnhttp.WithCode(faults.Perm(errors.New("the draft has no text")), "invalid_draft"), log)
	}
	acct, err := xaccount.Open(ctx, b.cfg.X, ident, b.deps.Keyring, b.deps.Tokens)
	if err != nil {
		return "", b.release(ctx, m, b.apiErr(ctx, ident, "open the account", err, log), log)
	}
	me, err := xaccount.Who(ctx, acct, b.deps.Store, false)
	if err != nil {
		return "", b.release(ctx, m, b.apiErr(ctx, ident, "identify the account", err, log), log)
	}
	to, err := b.target(ctx, ident, acct.Client, m, log)
	if err != nil {
		return "", b.release(ctx, m, err, log)
	}
	c := sentCopy{To: to, EventDoc: xapi.EventDoc{Data: xapi.Event{EventType: xapi.MessageCreate, Text: text, SenderID: me.ID},
		Includes: xapi.Includes{Users: []xapi.User{me}}}}
	// From here on a retry treats the message as (possibly) handed off.
	if err := b.putCopy(ctx, a.RawMsgID, c); err != nil {
		return "", b.release(ctx, m, err, log)
	}
	var sent xapi.Sent
	err = b.retrying(ctx, func() error {
		var err error
		if conv, ok := strings.CutPrefix(to, "conversation:"); ok {
			sent, _, err = acct.Client.SendToConversation(ctx, conv, text)
		} else {
			sent, _, err = acct.Client.SendToUser(ctx, strings.TrimPrefix(to, "user:"), text)
		}
		return err
	}, log)
	if err != nil {
		var apiError *xapi.Error
		if !errors.As(err, &apiError) && !faults.IsPermanent(err) && !unsent(err) {
			// No answer: X may have created the message.
			return "", fnhttp.WithCode(faults.Temp(fmt.Errorf("send direct message (unconfirmed; a retry after the lease finishes it): %w",
				err)), "send_unconfirmed")
		}
		if derr := b.deps.Blobs.Delete(context.WithoutCancel(ctx), copyKey(a.RawMsgID)); derr != nil {
			log.Warn("sent copy of a refused message not removed", "err", derr.Error())
		}
		return "", b.release(ctx, m, b.sendErr(ctx, ident, to, err, log), log)
	}
	log.Info("handed off", "event_id", sent.DMEventID)
	if b.afterHandoff != nil {
		if err := b.afterHandoff(); err != nil {
			return "", err
		}
	}
	c.Data.ID, c.Data.DMConversationID = sent.DMEventID, sent.DMConversationID
	c.Data.CreatedAt = a.Date.UTC().Format(time.RFC3339)
	if err := b.putCopy(ctx, a.RawMsgID, c); err != nil {
		return "", err
	}
	return b.finish(ctx, m, a, c, log)
}

// target is where draft m goes: its discussion's conversation, the
// conversation of the direct message it replies to (In-Reply-To: an X
// event id), or its first recipient.
func (b *bridge) target(ctx context.Context, ident store.Identity, c *xapi.Client, m store.Message, log *slog.Logger) (string, error) {
	if m.DiscussionID != "" {
		d, err := b.deps.Store.GetDiscussion(ctx, m.UserID, m.DiscussionID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", storeErr("load discussion "+m.DiscussionID, err)
		}
		if conv, ok := strings.CutPrefix(d.Key, threadPrefix); ok && xapi.IsConversationID(conv) {
			return "conversation:" + conv, nil
		}
	}
	if m.External.InReplyTo != "" {
		found, err := b.deps.Store.MessagesByExternalID(ctx, m.UserID, []string{m.External.InReplyTo})
		if err != nil {
			return "", storeErr("find the message replied to", err)
		}
		for _, r := range found {
			if r.Protocol == store.ProtocolTwitter && r.DiscussionID != "" {
				d, err := b.deps.Store.GetDiscussion(ctx, m.UserID, r.DiscussionID)
				if err != nil {
					return "", storeErr("load discussion "+r.DiscussionID, err)
				}
				if conv, ok := strings.CutPrefix(d.Key, threadPrefix); ok && xapi.IsConversationID(conv) {
					return "conversation:" + conv, nil
				}
			}
		}
	}
	for _, p := range m.Participants {
		if p.Type == "From" || (p.Protocol != "" && p.Protocol != store.ProtocolTwitter) {
			continue
		}
		if xapi.IsID(p.ID) {
			return "user:" + p.ID, nil
		}
		addr := strings.TrimPrefix(strings.TrimSpace(p.Address), "@")
		if xapi.IsID(addr) {
			return "user:" + addr, nil
		}
		return b.recipient(ctx, ident, c, addr, log)
	}
	return "", fnhttp.WithCode(faults.Perm(errors.New("the draft has no twitter recipient")), "invalid_draft")
}

// recipient is the target of username addr: its id remembered from synced
// messages or an earlier lookup, else looked up with X and remembered.
func (b *bridge) recipient(ctx context.Context, ident store.Identity, c *xapi.Client, addr string, log *slog.Logger) (string, error) {
	id, err := b.deps.Store.HandleID(ctx, ident.UserID, store.ProtocolTwitter, addr)
	switch {
	case err == nil && xapi.IsID(id):
		return "user:" + id, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", storeErr("find the id of "+addr, err)
	}
	var u xapi.User
	err = b.retrying(ctx, func() error {
		var err error
		u, _, err = c.UserByUsername(ctx, addr)
		return err
	}, log)
	if xapi.IsNotFound(err) || (err != nil && faults.IsPermanent(err) && !xaccount.NeedsReauth(err)) {
		return "", fnhttp.WithMessage(fnhttp.WithCode(faults.Perm(fmt.Errorf("recipient %q: %w", addr, err)),
			contract.CodeUnknownRecipient), fmt.Sprintf("X has no user @%s", addr))
	}
	if err != nil {
		return "", b.apiErr(ctx, ident, "look up recipient "+addr, err, log)
	}
	if err := b.deps.Store.RememberHandles(ctx, ident.UserID, store.ProtocolTwitter, map[string]string{u.Username: u.ID}); err != nil {
		log.Warn("recipient id not remembered", "err", err.Error()) // the next send looks it up again
	}
	return "user:" + u.ID, nil
}

// putCopy stores the sent copy of attempt rawID.
func (b *bridge) putCopy(ctx context.Context, rawID string, c sentCopy) error {
	return dmbridge.PutCopy(ctx, b.deps.Blobs, rawID, c)
}

// finish marks draft m sent as attempt a with copy c, in the discussion of
// its conversation.
func (b *bridge) finish(ctx context.Context, m store.Message, a store.SendAttempt, c sentCopy, log *slog.Logger) (string, error) {
	info := store.SentInfo{MessageID: c.Data.ID, RawMsgID: a.RawMsgID, Date: a.Date}
	raw, _ := json.Marshal(c) // cannot fail
	info.Raw = &store.RawMessage{ID: a.RawMsgID, BlobKey: copyKey(a.RawMsgID), Size: int64(len(raw)), Delivered: true}
	conv := c.Data.DMConversationID
	if conv == "" { // an earlier attempt lost X's answer: its target names the conversation
		conv = conversationOf(c)
	}
	if conv != "" {
		d, err := b.deps.Store.EnsureDiscussion(ctx, m.UserID, threadPrefix+conv, "")
		if err != nil {
			return "", storeErr("ensure the discussion of conversation "+conv+" (the message was sent; a retry finishes it)", err)
		}
		info.DiscussionID = d.ID
	}
	if _, err := b.deps.Store.MarkSent(ctx, m.UserID, m.ID, info); err != nil {
		return "", storeErr("mark message "+m.ID+" sent (it was sent; a retry finishes it)", err)
	}
	log.Info("sent", "outcome", "sent", "event_id", c.Data.ID)
	return sentText(m.ID), nil
}

// apiErr classifies an X failure of op: refused credentials (the identity
// then waits for new ones, polling.RequireReauth), other permanent
// refusals, rate limiting (throttled), the rest temporary.
func (b *bridge) apiErr(ctx context.Context, ident store.Identity, op string, err error, log *slog.Logger) error {
	err = fmt.Errorf("%s: %w", op, err)
	switch _, limited := xapi.RateLimited(err); {
	case limited:
		return fnhttp.WithMessage(fnhttp.WithCode(faults.Throttle(err), "rate_limited"),
			"X limits this account's requests for now: the draft can be sent again later")
	case xaccount.NeedsReauth(err):
		if _, rerr := b.reauth(ctx, ident, err, log); rerr != nil {
			log.Warn("identity not marked for reauthorization", "err", rerr.Error())
		}
		return fnhttp.WithMessage(fnhttp.WithCode(faults.Perm(err), contract.CodeReauthRequired),
			"X refused this account's credentials: authorize it again, then send the draft again")
	case faults.IsPermanent(err):
		return fnhttp.WithCode(faults.Perm(err), contract.CodeSendRefused)
	}
	return fnhttp.WithMessage(fnhttp.WithCode(faults.Temp(err), "x_unavailable"),
		"X is unavailable: the message was not sent; the draft can be sent again")
}

// sendErr classifies a refused send to target to: the codes say what X
// refused, the message says it to the user.
func (b *bridge) sendErr(ctx context.Context, ident store.Identity, to string, err error, log *slog.Logger) error {
	var e *xapi.Error
	if !errors.As(err, &e) || e.Temporary() || e.Auth() {
		return b.apiErr(ctx, ident, "send direct message", err, log)
	}
	err = faults.Perm(fmt.Errorf("send direct message: %w", err))
	_, toUser := strings.CutPrefix(to, "user:")
	switch {
	case e.Status == http.StatusForbidden && toUser:
		return fnhttp.WithMessage(fnhttp.WithCode(err, contract.CodeRecipientRefused),
			"the recipient does not accept direct messages from this account")
	case e.Status == http.StatusForbidden:
		return fnhttp.WithMessage(fnhttp.WithCode(err, contract.CodeSendRefused),
			"X refused the message: this account may not write to this conversation")
	case e.NotFound():
		return fnhttp.WithMessage(fnhttp.WithCode(err, contract.CodeUnknownRecipient),
			"X knows no such recipient or conversation")
	case e.Status == http.StatusBadRequest:
		return fnhttp.WithMessage(fnhttp.WithCode(err, contract.CodeSendRefused),
			"X refused the message as invalid: "+firstNonEmpty(e.Detail, e.Title))
	}
	return fnhttp.WithMessage(fnhttp.WithCode(err, contract.CodeSendRefused),
		fmt.Sprintf("X refused the message (%d %s)", e.Status, e.Title))
}

// Backoff of the retries of a temporary X failure inside one deliver.
const (
	retryFirst = 500 * time.Millisecond
	retryMax   = 4 * time.Second
	// retryReserve is left of the request's deadline for what follows
	// the call (marking the draft, the reply).
	retryReserve = 3 * time.Second
)

// retrying runs call until it succeeds, fails for good, or the request's
// deadline leaves no room for another try: X's 5xx and 429 answers, and
// failures to connect (nothing was sent), are tried again after a growing
// wait (a 429's reset time when it comes first).
func (b *bridge) retrying(ctx context.Context, call func() error, log *slog.Logger) error {
	wait := b.retryBase
	for n := 1; ; n++ {
		err := call()
		if err == nil || !retryable(err) {
			return err
		}
		pause := wait
		if reset, limited := xapi.RateLimited(err); limited && !reset.IsZero() {
			pause = max(time.Until(reset), wait)
		}
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) < pause+retryReserve {
			return err
		}
		log.Info("X failed, trying again", "attempt", n, "wait", pause.String(), "err", err.Error())
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		wait = min(2*wait, retryMax)
	}
}

// retryable says a call may be tried again: X answered 5xx or 429, or the
// connection was never made.
func retryable(err error) bool {
	var e *xapi.Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	return unsent(err)
}

// unsent says a call failed before its request could reach X.
func unsent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// conversationOf is the conversation copy c was posted to: its own, or the
// one-to-one conversation of its sender and recipient ("<low>-<high>").
func conversationOf(c sentCopy) string {
	if conv, ok := strings.CutPrefix(c.To, "conversation:"); ok {
		return conv
	}
	to, ok := strings.CutPrefix(c.To, "user:")
	if !ok || !xapi.IsID(to) || !xapi.IsID(c.Data.SenderID) {
		return ""
	}
	if xapi.Later(c.Data.SenderID, to) {
		return to + "-" + c.Data.SenderID
	}
	return c.Data.SenderID + "-" + to
}
