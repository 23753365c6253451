package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/outbox"
	"github.com/caliopen/functions/internal/store"
)

// order returns the outbox row of a publish/subscribe order of this call,
// to be stored with the change it announces (store.Order).
func (s *server) order(c *call, subject, order string, payload any) (store.Order, error) {
	c.rec.subject, c.rec.order = subject, order
	return emit.Order(c.ctx, subject, payload)
}

// send publishes the orders a change has just committed, waiting at most
// PublishTimeout for the stream, even if the client goes away meanwhile.
// An order not acknowledged by then stays in the outbox, where a relay
// publishes it: the change is accepted either way.
func (s *server) send(c *call, orders ...store.Order) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), s.cfg.PublishTimeout)
	defer cancel()
	if _, err := outbox.Send(ctx, s.st, s.emitter, s.cfg.PublishTimeout, orders); err != nil {
		c.rec.pending = err
	}
}

// contactOrder returns contact_update or discover_key for contact id.
func (s *server) contactOrder(c *call, subject, order, contactID string) (store.Order, error) {
	return s.order(c, subject, order, contract.ContactOrder{Order: order, ContactID: contactID, UserID: c.user.ID})
}

// keyOrder returns the builder of publish_key or delete_key for a key of a
// contact, once stored.
func (s *server) keyOrder(c *call, order string) func(store.PublicKey) store.Order {
	c.rec.subject, c.rec.order = contract.SubjectKeyAction, order
	return func(k store.PublicKey) store.Order {
		// A payload of strings: encoding cannot fail.
		o, _ := emit.Order(c.ctx, contract.SubjectKeyAction,
			contract.KeyOrder{KeyID: k.ID, Order: order, ResourceID: k.ContactID, UserID: c.user.ID})
		return o
	}
}

// identityOrder returns add_identity, update_identity or delete_identity:
// identity_id, order and user_id only, as the seed's apiv2 emitters.
func (s *server) identityOrder(c *call, order, identityID string) (store.Order, error) {
	return s.order(c, contract.SubjectIdentitiesWorker, order,
		contract.IdentityOrder{IdentityID: identityID, Order: order, UserID: c.user.ID})
}

// deliverSubject chooses where a draft sent from identity id goes: every
// local identity to outboundSMTP (the platform's relay); remote e-mail
// accounts (protocol email or imap) to outboundIMAP, whose function sends
// through the account's server and files the sent copy; a legacy remote
// "smtp" identity to outboundSMTP, as the original; twitter to twitter_dm;
// mastodon to mastodon_dm.
// Any other protocol has no subject in the contract.
func deliverSubject(id store.Identity) (string, error) {
	if id.Type == store.LocalIdentity {
		return contract.SubjectOutboundSMTP, nil
	}
	switch id.Protocol {
	case store.ProtocolEmail, protocolIMAP:
		return contract.SubjectOutboundIMAP, nil
	case protocolSMTP:
		return contract.SubjectOutboundSMTP, nil
	case store.ProtocolTwitter:
		return contract.SubjectTwitterDM, nil
	case store.ProtocolMastodon:
		return contract.SubjectMastodonDM, nil
	}
	return "", &apiError{status: http.StatusUnprocessableEntity, code: "no_route",
		msg: fmt.Sprintf("no subject delivers messages of protocol %q", id.Protocol)}
}

// deliver sends the deliver order of message m (owned by userID, sent from
// identity sender) as a request on subject and waits up to SendTimeout for
// the reply. It returns the reply on {"error":false}; otherwise an answer
// for the caller: 502 delivery_failed with the reply's message (the reply,
// the function's code as reason and whether the failure is temporary go
// along), 502 no_responder, 502 bad_reply, or 504 delivery_timeout.
func (s *server) deliver(c *call, subject string, m store.Message, sender store.Identity) (contract.DeliverReply, error) {
	c.rec.subject, c.rec.order = subject, contract.OrderDeliver
	ctx, cancel := context.WithTimeout(c.ctx, s.cfg.SendTimeout)
	defer cancel()
	order := contract.DeliverOrder{MessageID: m.ID, Order: contract.OrderDeliver, RemoteID: sender.ID, UserID: m.UserID}
	out, err := emit.Deliver(ctx, s.emitter, subject, order)
	if err == nil {
		return out, nil
	}
	var re *emit.RequestError
	if !errors.As(err, &re) {
		return contract.DeliverReply{}, &apiError{status: http.StatusBadGateway, code: contract.CodeUnsent,
			msg: "the deliver order could not be sent on " + subject, err: err}
	}
	switch {
	case re.Replied:
		// reason is the function's code (recipient_refuses_dm,
		// reauth_required, x_unavailable...); temporary says whether
		// sending the draft again may succeed.
		return out, &apiError{status: http.StatusBadGateway, code: "delivery_failed", msg: re.Message,
			err: err, extra: map[string]any{"reply": out, "reason": re.Code, "temporary": !re.Permanent()}}
	case re.Code == contract.CodeNoResponder:
		return contract.DeliverReply{}, &apiError{status: http.StatusBadGateway, code: re.Code,
			msg: "nothing serves " + subject + ": the message was not sent", err: err}
	case re.Code == contract.CodeNoReply:
		return contract.DeliverReply{}, &apiError{status: http.StatusGatewayTimeout, code: re.Code,
			msg: fmt.Sprintf("no reply from %s within %s: the message may or may not have been sent", subject, s.cfg.SendTimeout),
			err: err}
	case re.Code == contract.CodeBadReply:
		return contract.DeliverReply{}, &apiError{status: http.StatusBadGateway, code: re.Code,
			msg: "the reply from " + subject + " is not a deliver reply", err: err}
	}
	return contract.DeliverReply{}, &apiError{status: http.StatusBadGateway, code: re.Code,
		msg: "the deliver order could not be sent on " + subject, err: err}
}
