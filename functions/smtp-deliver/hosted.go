package smtpdeliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/processinbound"
	"github.com/caliopen/functions/internal/store"
)

// recipients are the envelope recipients of a draft, split.
type recipients struct {
	remote []string         // through the server of the route
	hosted []store.Identity // received here, as inbound mail
}

// splitRecipients sorts addrs: hosted addresses (active local identities)
// are received here when the sender is local and LocalDelivery is on.
// An address of the hosted domain that no active local identity has does
// not exist: the send fails permanently (unknown_recipient) rather than
// handing the mail to the relay, which would bring it back to us.
func (d *deliverer) splitRecipients(ctx context.Context, rt route, addrs []string) (recipients, error) {
	var r recipients
	var unknown []string
	for _, a := range addrs {
		var hosted []store.Identity
		local := rt.local && d.cfg.LocalDelivery
		if local {
			var err error
			if hosted, err = d.hosted(ctx, a); err != nil {
				return recipients{}, err
			}
		}
		switch {
		case len(hosted) > 0:
			r.hosted = append(r.hosted, hosted...)
		case local && d.inHostedDomain(a):
			unknown = append(unknown, a)
		default:
			r.remote = append(r.remote, a)
		}
	}
	if len(unknown) > 0 {
		return recipients{}, fnhttp.WithCode(faults.Perm(fmt.Errorf(
			"unknown recipient: no user has the address %s (domain %s is hosted here); nothing was sent",
			strings.Join(unknown, ", "), d.cfg.HostedDomain)), "unknown_recipient")
	}
	return r, nil
}

// inHostedDomain reports whether addr's domain is the hosted domain.
func (d *deliverer) inHostedDomain(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	return d.cfg.HostedDomain != "" && at >= 0 && strings.EqualFold(strings.TrimSpace(addr[at+1:]), d.cfg.HostedDomain)
}

// hosted returns the active local identities of addr.
func (d *deliverer) hosted(ctx context.Context, addr string) ([]store.Identity, error) {
	ids, err := d.deps.Store.LookupIdentities(ctx, store.ProtocolEmail, strings.ToLower(strings.TrimSpace(addr)))
	if err != nil {
		return nil, fnhttp.WithCode(faults.Temp(fmt.Errorf("look up recipient identities: %w", err)), "store_unavailable")
	}
	var out []store.Identity
	for _, id := range ids {
		if id.Type == store.LocalIdentity && (id.Status == "" || id.Status == store.Active) {
			out = append(out, id)
		}
	}
	return out, nil
}

// hostedOf returns the hosted recipients of draft m (To, Cc, Bcc), for a
// send an earlier attempt began: none unless its sender is local and
// LocalDelivery is on. An address that lost its identity meanwhile is
// left out.
func (d *deliverer) hostedOf(ctx context.Context, m store.Message) ([]store.Identity, error) {
	if !d.cfg.LocalDelivery {
		return nil, nil
	}
	ident, err := d.sender(ctx, m)
	if err != nil {
		return nil, err
	}
	if ident.Type != store.LocalIdentity {
		return nil, nil
	}
	var out []store.Identity
	for _, p := range m.Participants {
		switch strings.ToLower(p.Type) {
		case "to", "cc", "bcc":
			ids, err := d.hosted(ctx, p.Address)
			if err != nil {
				return nil, err
			}
			out = append(out, ids...)
		}
	}
	return out, nil
}

// targets are the identities of hosted that receive the mail of user
// author: each once, the author's own left out (the sent message is the
// author's copy).
func targets(author string, hosted []store.Identity) []store.Identity {
	var out []store.Identity
	seen := map[string]bool{}
	for _, id := range hosted {
		if id.UserID != author && !seen[id.ID] {
			seen[id.ID] = true
			out = append(out, id)
		}
	}
	return out
}

// receiveHosted has the hosted recipients rcpts receive the sent copy mark
// names, as inbound mail: the copy is stored once as a raw message (with a
// Received header, content-addressed, so that every retry finds it) and
// process_inbound is requested on inboundSMTP for each recipient identity,
// as the SMTP listener does. It returns how many recipients have the mail,
// and an error when not all do: temporary (local_delivery_failed) when any
// may get it on a retry, else permanent with inbound-email's code.
func (d *deliverer) receiveHosted(ctx context.Context, mark marker, rcpts []store.Identity, log *slog.Logger) (int, error) {
	rawID, err := d.storeRaw(ctx, mark)
	if err != nil {
		return 0, err
	}
	log = log.With("raw_id", rawID)
	res := make([]processinbound.Result, len(rcpts))
	errs := make([]error, len(rcpts))
	var wg sync.WaitGroup
	for i, idn := range rcpts {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, contract.InboundDeadline)
			defer cancel()
			res[i], errs[i] = processinbound.Request(pctx, d.deps.Requester, rawID, idn)
		})
	}
	wg.Wait()
	var n int
	var temp, perm error
	for i, r := range res {
		switch r.Outcome {
		case processinbound.Delivered:
			n++
			continue
		case processinbound.Temporary:
			temp = firstErr(temp, fmt.Errorf("hosted recipient %s: %w", rcpts[i].Identifier, errs[i]))
		case processinbound.Permanent:
			perm = firstErr(perm, refused(rcpts[i], r.Reply, errs[i]))
		}
		log.Warn("hosted recipient not delivered", "user_id", rcpts[i].UserID, "outcome", r.Outcome.String(),
			"err", errs[i].Error())
	}
	switch {
	case temp != nil:
		return n, fnhttp.WithCode(faults.Temp(fmt.Errorf("message %s: %d of %d hosted recipients have it: %w",
			mark.MessageID, n, len(rcpts), temp)), "local_delivery_failed")
	case perm != nil:
		return n, perm
	}
	log.Info("received by hosted recipients", "rcpts", n)
	return n, nil
}

// firstErr keeps the first error.
func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// refused is the permanent error of hosted recipient idn refusing the
// mail: inbound-email's code (local_delivery_refused without one), and a
// reply that names the recipient, since the refusal is the sender's
// business.
func refused(idn store.Identity, reply contract.InboundReply, err error) error {
	code := reply.Error
	if code == "" {
		code = "local_delivery_refused"
	}
	err = fmt.Errorf("hosted recipient %s refused the message: %w", idn.Identifier, err)
	return fnhttp.WithMessage(fnhttp.WithCode(faults.Perm(err), code), err.Error())
}

// storeRaw stores the hosted recipients' raw message of the sent copy mark
// names, unless a retry finds it stored, and returns its id: the hash of
// the copy's bytes, as the SMTP listener names what it receives, so the
// same copy always gives the same raw message and inbound-email the same
// messages. Its record is written by inbound-email with each message.
func (d *deliverer) storeRaw(ctx context.Context, mark marker) (string, error) {
	id := store.RawID(mark.data)
	key := store.RawKey(id)
	_, err := d.deps.Blobs.Stat(ctx, key)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, blob.ErrNotFound) {
		return "", blobErr("look for the hosted recipients' raw message", err)
	}
	head := d.received(id, mark.Date)
	body := io.MultiReader(strings.NewReader(head), bytes.NewReader(mark.data))
	if err := d.deps.Blobs.Put(ctx, key, body, int64(len(head)+len(mark.data))); err != nil {
		return "", blobErr("store the hosted recipients' raw message", err)
	}
	return id, nil
}

// received is the trace header in front of the hosted recipients' raw
// message (RFC 5321 §4.4): received here from a local user, at the send
// date, so that a retry writes the same bytes.
func (d *deliverer) received(id string, at time.Time) string {
	by := d.cfg.HostedDomain
	if by == "" {
		by = "localhost"
	}
	return fmt.Sprintf("Received: by %s (Caliopen) id %s;\r\n\t%s\r\n", by, id[:16], at.UTC().Format(time.RFC1123Z))
}
