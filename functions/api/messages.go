package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/store"
)

// maxParticipants bounds the recipients of a draft.
const maxParticipants = 500

// recipientTypes are the participant types a draft's author sets; the
// sender (From) comes from the draft's identity.
var recipientTypes = map[string]string{"to": "To", "cc": "Cc", "bcc": "Bcc"}

type draftRequest struct {
	IdentityID   *string               `json:"identity_id"` // default: the caller's first local identity
	Participants *[]participantRequest `json:"participants"`
	Subject      *string               `json:"subject"`
	BodyPlain    *string               `json:"body_plain"`
	BodyHTML     *string               `json:"body_html"`
	InReplyTo    *string               `json:"in_reply_to"`
	References   *[]string             `json:"references"`
	Tags         *[]string             `json:"tags"`
}

type participantRequest struct {
	Type    string `json:"type"` // To, Cc or Bcc
	Address string `json:"address"`
	Label   string `json:"label"`
}

// empty reports whether the request sets no field.
func (in *draftRequest) empty() bool {
	return in.IdentityID == nil && in.Participants == nil && in.Subject == nil && in.BodyPlain == nil &&
		in.BodyHTML == nil && in.InReplyTo == nil && in.References == nil && in.Tags == nil
}

// senderOf returns the caller's identity that sends a draft: the one named,
// else the first local one. An identity that is not the caller's is
// refused like a missing one.
func (s *server) senderOf(c *call, id *string) (store.Identity, error) {
	if id == nil || *id == "" {
		locals, err := s.st.ListIdentities(c.ctx, c.user.ID, store.IdentityFilter{Type: store.LocalIdentity})
		if err != nil {
			return store.Identity{}, storeError("identities", err)
		}
		if len(locals) == 0 {
			return store.Identity{}, &apiError{status: http.StatusUnprocessableEntity, code: "unknown_identity",
				msg: "you have no local identity: name one in identity_id"}
		}
		return locals[0], nil
	}
	ident, err := s.st.GetIdentity(c.ctx, c.user.ID, *id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Identity{}, &apiError{status: http.StatusUnprocessableEntity, code: "unknown_identity",
			msg: "identity_id names no identity of yours", err: err}
	}
	if err != nil {
		return store.Identity{}, storeError("identity", err)
	}
	return ident, nil
}

// apply sets the fields present in the request on the draft m, whose
// sender is from, noting problems.
func (in *draftRequest) apply(p *problems, m *store.Message, from store.Identity) {
	m.IdentityIDs, m.Protocol = []string{from.ID}, from.Protocol
	recipients := recipientsOf(m.Participants)
	if in.Participants != nil {
		recipients = nil
		if len(*in.Participants) > maxParticipants {
			p.bad("participants: at most %d", maxParticipants)
		}
		for i, pr := range *in.Participants {
			typ, ok := recipientTypes[strings.ToLower(strings.TrimSpace(pr.Type))]
			if !ok {
				p.bad("participants[%d].type must be To, Cc or Bcc (the sender comes from identity_id)", i)
			}
			addr := strings.TrimSpace(pr.Address)
			if addr == "" {
				p.bad("participants[%d].address is required", i)
			} else if from.Protocol != store.ProtocolTwitter && from.Protocol != store.ProtocolMastodon {
				if err := accounts.CheckAddress(addr); err != nil {
					p.bad("participants[%d].address: %v", i, err)
				}
			}
			recipients = append(recipients, store.Participant{Type: typ, Address: addr, Label: pr.Label,
				Protocol: from.Protocol})
		}
	}
	m.Participants = append([]store.Participant{{Type: "From", Address: from.Identifier, Label: from.DisplayName,
		Protocol: from.Protocol}}, recipients...)
	setStr := func(dst, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setStr(&m.Subject, in.Subject)
	setStr(&m.BodyPlain, in.BodyPlain)
	setStr(&m.BodyHTML, in.BodyHTML)
	setStr(&m.External.InReplyTo, in.InReplyTo)
	if in.References != nil {
		m.External.References = *in.References
	}
	if in.Tags != nil {
		m.Tags = *in.Tags
	}
}

// recipientsOf returns the participants other than the sender.
func recipientsOf(ps []store.Participant) []store.Participant {
	var out []store.Participant
	for _, p := range ps {
		if p.Type != "From" {
			out = append(out, p)
		}
	}
	return out
}

// createDraft stores a new draft of the caller.
func (s *server) createDraft(w http.ResponseWriter, c *call) error {
	var in draftRequest
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	from, err := s.senderOf(c, in.IdentityID)
	if err != nil {
		return err
	}
	var p problems
	m := store.Message{ID: c.newID(), UserID: c.user.ID, Date: time.Now()}
	in.apply(&p, &m, from)
	if err := p.err(); err != nil {
		return err
	}
	if m, err = s.st.CreateDraft(c.ctx, m); err != nil {
		return storeError("draft", err)
	}
	return reply(w, http.StatusCreated, viewMessage(m))
}

// messageOf returns the caller's message named by the path.
func (s *server) messageOf(c *call) (store.Message, error) {
	m, err := s.st.GetMessage(c.ctx, c.user.ID, c.r.PathValue("id"))
	if err != nil {
		return store.Message{}, storeError("message", err)
	}
	return m, nil
}

// patchDraft edits a draft; a message that is not a draft (received, or
// sent) gives 409.
func (s *server) patchDraft(w http.ResponseWriter, c *call) error {
	var in draftRequest
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	if in.empty() {
		return badRequest("missing_field", `nothing to change: give one of "identity_id", "participants", `+
			`"subject", "body_plain", "body_html", "in_reply_to", "references", "tags"`)
	}
	m, err := s.messageOf(c)
	if err != nil {
		return err
	}
	if !m.IsDraft {
		return &apiError{status: http.StatusConflict, code: "not_a_draft", msg: "only drafts can be edited"}
	}
	current := m.IdentityIDs
	if in.IdentityID == nil && len(current) > 0 {
		in.IdentityID = &current[0]
	}
	from, err := s.senderOf(c, in.IdentityID)
	if err != nil {
		return err
	}
	var p problems
	in.apply(&p, &m, from)
	if err := p.err(); err != nil {
		return err
	}
	m, err = s.st.UpdateDraft(c.ctx, m)
	if errors.Is(err, store.ErrConflict) {
		return &apiError{status: http.StatusConflict, code: "not_a_draft", msg: "the draft is being sent or was sent", err: err}
	}
	if err != nil {
		return storeError("draft", err)
	}
	return reply(w, http.StatusOK, viewMessage(m))
}

// listMessages lists the caller's messages, newest first, a page at a
// time; is_draft, is_unread and discussion_id filter them.
func (s *server) listMessages(w http.ResponseWriter, c *call) error {
	var (
		f   store.MessageFilter
		err error
	)
	if f.IsDraft, err = boolParam(c, "is_draft"); err != nil {
		return err
	}
	if f.IsUnread, err = boolParam(c, "is_unread"); err != nil {
		return err
	}
	f.DiscussionID = c.r.URL.Query().Get("discussion_id")
	return listed(w, c, "messages", viewMessage, func(p store.Page) ([]store.Message, string, error) {
		return s.st.ListMessages(c.ctx, c.user.ID, f, p)
	})
}

// getMessage returns one message.
func (s *server) getMessage(w http.ResponseWriter, c *call) error {
	m, err := s.messageOf(c)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, viewMessage(m))
}

// getRaw streams the raw message (message/rfc822) from the blob store.
func (s *server) getRaw(w http.ResponseWriter, c *call) error {
	raw, err := s.st.MessageRaw(c.ctx, c.user.ID, c.r.PathValue("id"))
	if err != nil {
		return storeError("raw message", err)
	}
	body, err := s.blobs.Get(c.ctx, raw.BlobKey)
	if errors.Is(err, blob.ErrNotFound) {
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: "raw message not found", err: err}
	}
	if err != nil {
		return fmt.Errorf("read raw message %s: %w", raw.ID, err)
	}
	defer body.Close()
	w.Header().Set("Content-Type", "message/rfc822")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, body); err != nil {
		c.rec.err = fmt.Errorf("stream raw message %s: %w", raw.ID, err) // the status is out already
	}
	return nil
}

// sendAnswer is the answer of a send: the deliver reply and the message as
// the store has it afterwards.
type sendAnswer struct {
	Reply   any         `json:"reply"`
	Message messageView `json:"message"`
}

// messageActions runs an action on a message: {"actions":["send"]} sends
// a draft (the original's SendDraft): deliver as a request on the subject
// of its sender identity (deliverSubject), and the reply back;
// "set_read" and "set_unread" set its unread flag, as the original's.
func (s *server) messageActions(w http.ResponseWriter, c *call) error {
	action, err := s.actions(w, c, "send", "set_read", "set_unread")
	if err != nil {
		return err
	}
	m, err := s.messageOf(c)
	if err != nil {
		return err
	}
	if action != "send" {
		unread := action == "set_unread"
		if err := s.st.SetMessageFlags(c.ctx, c.user.ID, m.ID, store.MessageFlags{IsUnread: &unread}); err != nil {
			return storeError("message", err)
		}
		m.IsUnread = unread
		return reply(w, http.StatusOK, struct {
			Message messageView `json:"message"`
		}{viewMessage(m)})
	}
	if !m.IsDraft {
		return &apiError{status: http.StatusConflict, code: "not_a_draft", msg: "the message is not a draft: it was sent or received"}
	}
	if len(recipientsOf(m.Participants)) == 0 {
		return &apiError{status: http.StatusUnprocessableEntity, code: "no_recipient", msg: "the draft has no recipient"}
	}
	var from store.Identity
	if len(m.IdentityIDs) > 0 {
		from, err = s.st.GetIdentity(c.ctx, c.user.ID, m.IdentityIDs[0])
	}
	if len(m.IdentityIDs) == 0 || errors.Is(err, store.ErrNotFound) {
		return &apiError{status: http.StatusUnprocessableEntity, code: "unknown_identity",
			msg: "the draft's sender identity no longer exists: set identity_id", err: err}
	}
	if err != nil {
		return storeError("identity", err)
	}
	subject, err := deliverSubject(from)
	if err != nil {
		return err
	}
	rep, err := s.deliver(c, subject, m, from)
	if err != nil {
		return err
	}
	if m, err = s.st.GetMessage(c.ctx, c.user.ID, m.ID); err != nil {
		return storeError("message", err)
	}
	return reply(w, http.StatusOK, sendAnswer{Reply: rep, Message: viewMessage(m)})
}

// listNotifications lists the caller's unexpired notifications, newest
// first.
func (s *server) listNotifications(w http.ResponseWriter, c *call) error {
	return listed(w, c, "notifications", viewNotification, func(p store.Page) ([]store.Notification, string, error) {
		return s.st.ListNotifications(c.ctx, c.user.ID, p)
	})
}
