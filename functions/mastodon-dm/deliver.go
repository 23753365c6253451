package mastodondm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/dmbridge"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/mastoaccount"
	"github.com/caliopen/functions/internal/mastoapi"
	"github.com/caliopen/functions/internal/store"
)

// deliver posts draft id from account ident once (see the package doc).
func (b *bridge) deliver(ctx context.Context, ident store.Identity, id string, log *slog.Logger) (string, error) {
	if ident.Status == store.ReauthRequired {
		return "", reauthRefusal(fmt.Errorf("identity %s waits for a new access token", ident.ID))
	}
	var c sentCopy
	t, err := dmbridge.Take(ctx, b.deps.Store, b.deps.Blobs, ident, id, b.cfg.SendLease, b.deps.Now(), &c, log)
	if err != nil || t.Done != "" {
		return t.Done, err
	}
	if t.Stored {
		// An earlier attempt may have posted: its Idempotency-Key makes a
		// repeated post (on an instance that honours it) the same status,
		// and without one the copy is taken as sent.
		log.Warn("finishing a send that an earlier attempt may have handed off", "outcome", "recovered")
		return b.finish(ctx, t.Msg, t.Attempt, c, log)
	}
	return b.send(ctx, ident, t.Msg, t.Attempt, log)
}

// Text is the status posted for a draft of body text to recipients (their
// addresses, "user@domain"), from an account of instance host: the
// mentions the text lacks first ("@user" on the same instance,
// "@user@domain" elsewhere), then the text.
func Text(text, host string, recipients []string) string {
	var mentions []string
	for _, r := range recipients {
		user, domain, _ := strings.Cut(strings.TrimPrefix(r, "@"), "@")
		mention := "@" + user
		if domain != "" && !strings.EqualFold(domain, host) {
			mention += "@" + domain
		}
		if !strings.Contains(strings.ToLower(text), strings.ToLower(mention)) {
			mentions = append(mentions, mention)
		}
	}
	if len(mentions) == 0 {
		return text
	}
	return strings.Join(mentions, " ") + " " + text
}

// recipients lists the draft's mastodon addresses other than From.
func recipients(m store.Message) []string {
	var out []string
	for _, p := range m.Participants {
		if p.Type == "From" || (p.Protocol != "" && p.Protocol != store.ProtocolMastodon) {
			continue
		}
		if a := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(p.Address), "@")); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// send posts draft m as attempt a and finishes it.
func (b *bridge) send(ctx context.Context, ident store.Identity, m store.Message, a store.SendAttempt, log *slog.Logger) (string, error) {
	text := strings.TrimSpace(m.BodyPlain)
	to := recipients(m)
	switch {
	case text == "":
		return "", dmbridge.Release(ctx, b.deps.Store, m, fnhttp.WithCode(faults.Perm(errors.New("the draft has no text")), "invalid_draft"), log)
	case len(to) == 0:
		return "", dmbridge.Release(ctx, b.deps.Store, m, fnhttp.WithCode(faults.Perm(errors.New("the draft has no mastodon recipient")), "invalid_draft"), log)
	}
	c, err := b.dialer.Open(ident, b.deps.Keyring)
	if err != nil {
		return "", dmbridge.Release(ctx, b.deps.Store, m, b.apiErr(ctx, ident, "open the account", err, log), log)
	}
	base, _ := mastoapi.ParseInstance(ident.Infos[mastoaccount.InfoURL]) // Open checked it
	post := mastoapi.Post{Status: Text(text, base.Host, to), Visibility: mastoapi.VisibilityDirect,
		InReplyToID: m.External.InReplyTo, SpoilerText: m.Subject}
	sent := sentCopy{Status: mastoapi.Status{Content: post.Status, Visibility: post.Visibility}, Post: post}
	// From here on a retry treats the message as (possibly) handed off.
	if err := dmbridge.PutCopy(ctx, b.deps.Blobs, a.RawMsgID, sent); err != nil {
		return "", dmbridge.Release(ctx, b.deps.Store, m, err, log)
	}
	st, _, err := c.PostStatus(ctx, post, a.RawMsgID)
	if err != nil {
		var apiError *mastoapi.Error
		if !errors.As(err, &apiError) {
			// No answer: the instance may have created the status.
			return "", fnhttp.WithCode(faults.Temp(fmt.Errorf("post direct status (unconfirmed; a retry after the lease finishes it): %w",
				err)), "send_unconfirmed")
		}
		if derr := b.deps.Blobs.Delete(context.WithoutCancel(ctx), dmbridge.CopyKey(a.RawMsgID)); derr != nil {
			log.Warn("sent copy of a refused status not removed", "err", derr.Error())
		}
		return "", dmbridge.Release(ctx, b.deps.Store, m, b.apiErr(ctx, ident, "post direct status", err, log), log)
	}
	log.Info("handed off", "status_id", st.ID)
	sent.Status = st
	if err := dmbridge.PutCopy(ctx, b.deps.Blobs, a.RawMsgID, sent); err != nil {
		return "", err
	}
	return b.finish(ctx, m, a, sent, log)
}

// sentCopy is the sent copy: what was posted and, once the instance
// answered, the status it created.
type sentCopy struct {
	Status mastoapi.Status `json:"status"`
	Post   mastoapi.Post   `json:"post"`
}

// finish marks draft m sent as attempt a with copy c.
func (b *bridge) finish(ctx context.Context, m store.Message, a store.SendAttempt, c sentCopy, log *slog.Logger) (string, error) {
	raw, _ := json.Marshal(c) // cannot fail
	info := store.SentInfo{MessageID: c.Status.ID, RawMsgID: a.RawMsgID, Date: a.Date,
		Raw: &store.RawMessage{ID: a.RawMsgID, BlobKey: dmbridge.CopyKey(a.RawMsgID), Size: int64(len(raw)), Delivered: true}}
	if _, err := b.deps.Store.MarkSent(ctx, m.UserID, m.ID, info); err != nil {
		return "", storeErr("mark message "+m.ID+" sent (it was sent; a retry finishes it)", err)
	}
	log.Info("sent", "outcome", "sent", "status_id", c.Status.ID)
	return dmbridge.SentText(m.ID), nil
}

func reauthRefusal(err error) error {
	return fnhttp.WithMessage(fnhttp.WithCode(faults.Perm(err), contract.CodeReauthRequired),
		"the Mastodon instance refused this account's access token: authorize it again, then send the draft again")
}

// apiErr classifies an instance's failure of op: a refused token (the
// identity then waits for a new one), rate limiting, other refusals, the
// rest temporary.
func (b *bridge) apiErr(ctx context.Context, ident store.Identity, op string, err error, log *slog.Logger) error {
	err = fmt.Errorf("%s: %w", op, err)
	var e *mastoapi.Error
	errors.As(err, &e)
	switch _, limited := mastoapi.RateLimited(err); {
	case limited:
		return fnhttp.WithMessage(fnhttp.WithCode(faults.Throttle(err), "rate_limited"),
			"the Mastodon instance limits this account's requests for now: the draft can be sent again later")
	case mastoaccount.NeedsReauth(err):
		if _, rerr := b.reauth(ctx, ident, err, log); rerr != nil {
			log.Warn("identity not marked for reauthorization", "err", rerr.Error())
		}
		return reauthRefusal(err)
	case e != nil && e.Status == http.StatusNotFound:
		return fnhttp.WithMessage(fnhttp.WithCode(faults.Perm(err), contract.CodeUnknownRecipient),
			"the Mastodon instance knows no such status to reply to")
	case e != nil && !e.Temporary():
		return fnhttp.WithMessage(fnhttp.WithCode(faults.Perm(err), contract.CodeSendRefused),
			fmt.Sprintf("the Mastodon instance refused the status (%d %s)", e.Status, e.Message))
	case faults.IsPermanent(err):
		return fnhttp.WithCode(faults.Perm(err), contract.CodeSendRefused)
	}
	return fnhttp.WithMessage(fnhttp.WithCode(faults.Temp(err), "mastodon_unavailable"),
		"the Mastodon instance is unavailable: the message was not sent; the draft can be sent again")
}
