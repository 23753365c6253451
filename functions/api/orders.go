package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

// publish sends a publish/subscribe order once the change it announces is
// stored. It waits for the stream's acknowledgement, retrying for at most
// PublishTimeout, even if the client goes away meanwhile. Not acknowledged:
// 503 order_not_queued, saying that the change was saved (id names the
// object) and the order was not queued.
func (s *server) publish(c *call, subject, order, id string, payload any) error {
	c.rec.subject, c.rec.order = subject, order
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), s.cfg.PublishTimeout)
	defer cancel()
	if err := s.emitter.Publish(ctx, subject, payload); err != nil {
		return &apiError{status: http.StatusServiceUnavailable, code: "order_not_queued",
			msg: fmt.Sprintf("the change was saved, but the %s order could not be queued on %s; "+
				"the workers will not hear of it until it is repeated", order, subject),
			err: err, extra: map[string]any{"id": id, "order": order}}
	}
	return nil
}

// nothingSaved rewords an order_not_queued answer for an action that
// changes nothing but the order: the caller may simply try again.
func nothingSaved(err error) error {
	var ae *apiError
	if errors.As(err, &ae) && ae.code == "order_not_queued" {
		ae.msg = fmt.Sprintf("nothing was changed, and the %s order could not be queued; try again", ae.extra["order"])
	}
	return err
}

// contactOrder publishes contact_update or discover_key for contact id.
func (s *server) contactOrder(c *call, subject, order, contactID string) error {
	return s.publish(c, subject, order, contactID,
		contract.ContactOrder{Order: order, ContactID: contactID, UserID: c.user.ID})
}

// keyOrder publishes publish_key or delete_key for key k of a contact.
func (s *server) keyOrder(c *call, order string, k store.PublicKey) error {
	return s.publish(c, contract.SubjectKeyAction, order, k.ID,
		contract.KeyOrder{KeyID: k.ID, Order: order, ResourceID: k.ContactID, UserID: c.user.ID})
}

// identityOrder publishes add_identity, update_identity or delete_identity:
// identity_id, order and user_id only, as the seed's apiv2 emitters.
func (s *server) identityOrder(c *call, order, identityID string) error {
	return s.publish(c, contract.SubjectIdentitiesWorker, order, identityID,
		contract.IdentityOrder{IdentityID: identityID, Order: order, UserID: c.user.ID})
}

// deliverSubject chooses where a draft sent from identity id goes: every
// local identity to outboundSMTP (the platform's relay); remote e-mail
// accounts (protocol email or imap) to outboundIMAP, whose function sends
// through the account's server and files the sent copy; a legacy remote
// "smtp" identity to outboundSMTP, as the original; twitter to twitter_dm.
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
	}
	return "", &apiError{status: http.StatusUnprocessableEntity, code: "no_route",
		msg: fmt.Sprintf("no subject delivers messages of protocol %q", id.Protocol)}
}

// deliverReply is the reply to a deliver request. Error is a pointer so a
// reply without it is told from {"error":false}.
type deliverReply struct {
	Error   *bool  `json:"error"`
	Message string `json:"message"`
}

// deliver sends the deliver order of message m (owned by userID, sent from
// identity sender) as a request on subject and waits up to SendTimeout for
// the reply. It returns the reply on {"error":false}; otherwise an answer
// for the caller: 502 delivery_failed with the reply's message (the reply
// goes along), 502 no_responder, 502 bad_reply, or 504 delivery_timeout.
func (s *server) deliver(c *call, subject string, m store.Message, sender store.Identity) (contract.DeliverReply, error) {
	c.rec.subject, c.rec.order = subject, contract.OrderDeliver
	ctx, cancel := context.WithTimeout(c.ctx, s.cfg.SendTimeout)
	defer cancel()
	order := contract.DeliverOrder{MessageID: m.ID, Order: contract.OrderDeliver, RemoteID: sender.ID, UserID: m.UserID}
	body, err := s.emitter.Request(ctx, subject, order)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return contract.DeliverReply{}, &apiError{status: http.StatusBadGateway, code: "no_responder",
			msg: "nothing serves " + subject + ": the message was not sent", err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return contract.DeliverReply{}, &apiError{status: http.StatusGatewayTimeout, code: "delivery_timeout",
			msg: fmt.Sprintf("no reply from %s within %s: the message may or may not have been sent", subject, s.cfg.SendTimeout),
			err: err}
	case err != nil:
		return contract.DeliverReply{}, &apiError{status: http.StatusBadGateway, code: "delivery_unavailable",
			msg: "the deliver order could not be sent on " + subject, err: err}
	}
	var r deliverReply
	if err := json.Unmarshal(body, &r); err != nil || r.Error == nil {
		return contract.DeliverReply{}, &apiError{status: http.StatusBadGateway, code: "bad_reply",
			msg: "the reply from " + subject + " is not a deliver reply", err: fmt.Errorf("reply of %d bytes: %v", len(body), err)}
	}
	out := contract.DeliverReply{Error: *r.Error, Message: r.Message}
	if out.Error {
		return out, &apiError{status: http.StatusBadGateway, code: "delivery_failed", msg: r.Message,
			err: fmt.Errorf("%s replied error: %s", subject, r.Message), extra: map[string]any{"reply": out}}
	}
	return out, nil
}
