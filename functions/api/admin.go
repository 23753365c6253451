package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

type newUserRequest struct {
	Name          string `json:"name"`
	Password      string `json:"password"`
	IsAdmin       bool   `json:"is_admin"`
	RecoveryEmail string `json:"recovery_email"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
}

// newUserAnswer describes a created account and the outcome of its
// welcome mail.
type newUserAnswer struct {
	User        userView       `json:"user"`
	Identity    identityView   `json:"identity"`
	WelcomeMail map[string]any `json:"welcome_mail"`
}

// adminCreateUser creates an account with its local identity, then mails
// the user from the admin identity (Notifications.SendEmailAdminToUser).
// The account stands whatever becomes of the mail; welcome_mail says.
func (s *server) adminCreateUser(w http.ResponseWriter, c *call) error {
	var in newUserRequest
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	var p problems
	p.require(in.Name != "", "name")
	p.require(in.Password != "", "password")
	if err := p.err(); err != nil {
		return err
	}
	u, local, err := s.accounts.CreateUser(c.ctx, accounts.NewUser{Name: in.Name, Password: in.Password,
		IsAdmin: in.IsAdmin, RecoveryEmail: in.RecoveryEmail, GivenName: in.GivenName, FamilyName: in.FamilyName})
	var invalid *accounts.InvalidError
	switch {
	case errors.As(err, &invalid):
		return badRequest("invalid_field", "%s", strings.Join(invalid.Problems, "; "))
	case errors.Is(err, store.ErrConflict):
		return &apiError{status: http.StatusConflict, code: "conflict", msg: "the name or its address is taken", err: err}
	case err != nil:
		return fmt.Errorf("create user: %w", err)
	}
	ans := newUserAnswer{User: viewUser(u), Identity: viewIdentity(local)}
	subject, body := welcomeMail(u, local)
	rep, _, merr := s.mailUser(c, u, subject, body)
	if merr != nil {
		ans.WelcomeMail = map[string]any{"error": true, "message": mailFailure(merr)}
		c.rec.err = merr // the account stands; the log says why the mail did not go
	} else {
		ans.WelcomeMail = map[string]any{"error": rep.Error, "message": rep.Message}
	}
	return reply(w, http.StatusCreated, ans)
}

// mailFailure is the client's text of a failed admin mail.
func mailFailure(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.msg
	}
	return "the mail could not be sent"
}

func welcomeMail(u store.User, local store.Identity) (subject, body string) {
	return "Welcome to Caliopen", fmt.Sprintf("Hello %s,\n\nyour Caliopen account is ready.\n"+
		"Log in as %q; your address is %s.\n", u.Name, u.Name, local.Identifier)
}

type mailRequest struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// adminMailUser mails a user from the admin identity and answers with the
// deliver reply, as SendDraft does.
func (s *server) adminMailUser(w http.ResponseWriter, c *call) error {
	var in mailRequest
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	var p problems
	p.require(strings.TrimSpace(in.Subject) != "", "subject")
	p.require(strings.TrimSpace(in.Body) != "", "body")
	if err := p.err(); err != nil {
		return err
	}
	u, err := s.st.GetUser(c.ctx, c.r.PathValue("id"))
	if err != nil {
		return storeError("user", err)
	}
	rep, m, err := s.mailUser(c, u, in.Subject, in.Body)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, sendAnswer{Reply: rep, Message: viewMessage(m)})
}

// mailUser is Notifications.SendEmailAdminToUser: a draft owned by the
// admin user (Config.AdminName), from the admin's first local identity to
// the user's recovery address (else the user's first local address), sent
// as deliver on outboundSMTP with a request of SendTimeout.
func (s *server) mailUser(c *call, to store.User, subject, body string) (contract.DeliverReply, store.Message, error) {
	adm, from, err := s.adminIdentity(c)
	if err != nil {
		return contract.DeliverReply{}, store.Message{}, err
	}
	addr := to.RecoveryEmail
	if addr == "" {
		locals, err := s.st.ListIdentities(c.ctx, to.ID, store.IdentityFilter{Type: store.LocalIdentity})
		if err != nil {
			return contract.DeliverReply{}, store.Message{}, storeError("identities", err)
		}
		if len(locals) == 0 {
			return contract.DeliverReply{}, store.Message{}, &apiError{status: http.StatusUnprocessableEntity,
				code: "no_address", msg: "the user has neither a recovery address nor a local address"}
		}
		addr = locals[0].Identifier
	}
	m, err := s.st.CreateDraft(c.ctx, store.Message{UserID: adm.ID, IdentityIDs: []string{from.ID},
		Protocol: store.ProtocolEmail, Subject: subject, BodyPlain: body, Date: time.Now(),
		Participants: []store.Participant{
			{Type: "From", Address: from.Identifier, Label: from.DisplayName, Protocol: store.ProtocolEmail},
			{Type: "To", Address: addr, Label: to.Name, Protocol: store.ProtocolEmail},
		}})
	if err != nil {
		return contract.DeliverReply{}, store.Message{}, storeError("draft", err)
	}
	rep, err := s.deliver(c, contract.SubjectOutboundSMTP, m, from)
	if err != nil {
		return rep, m, err
	}
	if m, err = s.st.GetMessage(c.ctx, adm.ID, m.ID); err != nil {
		return rep, m, storeError("message", err)
	}
	return rep, m, nil
}

// adminIdentity returns the admin user and its first local identity.
func (s *server) adminIdentity(c *call) (store.User, store.Identity, error) {
	missing := &apiError{status: http.StatusServiceUnavailable, code: "no_admin_identity",
		msg: fmt.Sprintf("the admin user %q, whose local identity sends the admin's mails, does not exist or has no local identity",
			s.cfg.AdminName)}
	adm, err := s.st.GetUserByName(c.ctx, accounts.NormalizeName(s.cfg.AdminName))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, store.Identity{}, missing
	}
	if err != nil {
		return store.User{}, store.Identity{}, fmt.Errorf("load admin user: %w", err)
	}
	locals, err := s.st.ListIdentities(c.ctx, adm.ID, store.IdentityFilter{Type: store.LocalIdentity})
	if err != nil {
		return store.User{}, store.Identity{}, fmt.Errorf("load admin identity: %w", err)
	}
	if len(locals) == 0 {
		return store.User{}, store.Identity{}, missing
	}
	return adm, locals[0], nil
}
