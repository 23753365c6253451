package smtpdeliver

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

// recipients are the envelope recipients of a draft, split.
type recipients struct {
	remote []string         // through the server of the route
	local  []store.Identity // hosted: stored directly
}

// splitRecipients sorts addrs: hosted addresses (active local identities)
// are delivered directly when the sender is local and LocalDelivery is on.
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
			r.local = append(r.local, hosted...)
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

// localCopies stores a received copy of sent message m for each hosted
// recipient other than its author. It is idempotent (PutInbound
// deduplicates by Message-ID per user), so it runs again on every retried
// deliver of a sent message.
func (d *deliverer) localCopies(ctx context.Context, m store.Message, log *slog.Logger) error {
	if !d.cfg.LocalDelivery || m.External.MessageID == "" {
		return nil
	}
	ident, err := d.sender(ctx, m)
	if err != nil || ident.Type != store.LocalIdentity {
		return nil // the sender changed or is remote: no hosted copies from here
	}
	var rcpts []string
	for _, p := range m.Participants {
		switch strings.ToLower(p.Type) {
		case "to", "cc", "bcc":
			rcpts = append(rcpts, p.Address)
		}
	}
	r, err := d.splitRecipients(ctx, route{local: true}, rcpts)
	if err != nil {
		return err
	}
	n := 0
	for _, id := range r.local {
		if id.UserID == m.UserID {
			continue // the author has the sent message itself
		}
		if _, _, err := d.deps.Store.PutInbound(ctx, receivedCopy(m, id)); err != nil {
			return fnhttp.WithCode(faults.Temp(fmt.Errorf("message %s was sent; store the copy of a hosted recipient: %w",
				m.ID, err)), "local_delivery_failed")
		}
		n++
	}
	if n > 0 {
		log.Info("delivered to hosted recipients", "copies", n)
	}
	return nil
}

// receivedCopy is sent message m as recipient identity id receives it.
func receivedCopy(m store.Message, id store.Identity) store.Message {
	var ps []store.Participant
	for _, p := range m.Participants {
		if !strings.EqualFold(p.Type, "bcc") {
			ps = append(ps, p)
		}
	}
	return store.Message{UserID: id.UserID, IdentityIDs: []string{id.ID}, Protocol: store.ProtocolEmail,
		Participants: ps, Subject: m.Subject, BodyPlain: m.BodyPlain, BodyHTML: m.BodyHTML, Date: m.Date,
		IsReceived: true, IsUnread: true, External: m.External, Attachments: m.Attachments, RawMsgID: m.RawMsgID,
		Features: m.Features}
}
