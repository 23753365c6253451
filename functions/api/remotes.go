package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/mastoapi"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// Remote protocols besides the store's: the original's legacy names.
const (
	protocolIMAP = "imap"
	protocolSMTP = "smtp"
)

// Limits of remote identities.
const (
	maxPollMinutes  = 7 * 24 * 60
	maxMapEntries   = 32
	maxMapValueLen  = 4096
	defaultPollMail = 15 // minutes, the original's e-mail default
	defaultPollDM   = 2  // minutes, the original's twitter default
)

type remoteRequest struct {
	Protocol     string            `json:"protocol"` // email, imap, smtp, twitter or mastodon
	Identifier   string            `json:"identifier"`
	DisplayName  string            `json:"display_name"`
	Status       string            `json:"status"`        // active (default) or inactive
	PollInterval *int              `json:"poll_interval"` // minutes; 15 for e-mail, 2 for twitter
	Infos        map[string]string `json:"infos"`         // inserver, outserver, authtype, ...
	Credentials  map[string]string `json:"credentials"`   // sealed at rest, never shown
}

// createRemote adds a remote account and publishes add_identity.
func (s *server) createRemote(w http.ResponseWriter, c *call) error {
	var in remoteRequest
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	id, err := in.identity(c.user.ID, s.accounts.LocalDomain())
	if err != nil {
		return err
	}
	if err := s.remotesQuota(c); err != nil {
		return err
	}
	id.ID = c.newID()
	if in.Credentials != nil {
		if id.Credentials, err = s.seal(id.ID, in.Credentials); err != nil {
			return err
		}
	}
	o, err := s.identityOrder(c, contract.OrderAddIdentity, id.ID)
	if err != nil {
		return err
	}
	if id, err = s.st.CreateIdentity(c.ctx, id, o); err != nil {
		return storeError("identity", err)
	}
	s.send(c, o)
	return reply(w, http.StatusCreated, viewIdentity(id))
}

// identity checks the request and builds the identity it describes. An
// address of the hosted domain is no remote account: its mail is this
// system's, and a remote identity would send as, or claim, another user.
func (in *remoteRequest) identity(userID, hostedDomain string) (store.Identity, error) {
	var p problems
	in.Protocol = strings.ToLower(strings.TrimSpace(in.Protocol))
	in.Identifier = strings.TrimSpace(in.Identifier)
	p.require(in.Protocol != "", "protocol")
	p.require(in.Identifier != "", "identifier")
	poll := defaultPollMail
	switch in.Protocol {
	case "":
	case store.ProtocolEmail, protocolIMAP, protocolSMTP:
		if in.Identifier != "" {
			if err := accounts.CheckAddress(in.Identifier); err != nil {
				p.bad("identifier: %v", err)
			} else if domain := in.Identifier[strings.LastIndex(in.Identifier, "@")+1:]; strings.EqualFold(strings.TrimSuffix(domain, "."), hostedDomain) {
				p.bad("identifier: %s is an address of the hosted domain %s, not a remote account (local addresses are added with POST /api/v2/identities/locals)",
					in.Identifier, hostedDomain)
			}
		}
	case store.ProtocolTwitter:
		poll = defaultPollDM
		in.Identifier = strings.TrimPrefix(in.Identifier, "@")
		if strings.ContainsAny(in.Identifier, " @\t") || len(in.Identifier) > 64 {
			p.bad("identifier: want a screen name")
		}
	case store.ProtocolMastodon:
		// user@instance; infos url the instance (its connections pass the
		// egress guard), credentials oauth2accesstoken the account's token.
		poll = defaultPollDM
		in.Identifier = strings.ToLower(strings.TrimPrefix(in.Identifier, "@"))
		if user, host, ok := strings.Cut(in.Identifier, "@"); !ok || user == "" || host == "" || strings.ContainsAny(in.Identifier, " \t/") {
			p.bad("identifier: want user@instance")
		}
		if u, err := mastoapi.ParseInstance(in.Infos["url"]); err != nil {
			p.bad("infos: url: %v", err)
		} else {
			in.Infos = cloneWith(in.Infos, "url", u.String())
		}
		if in.Credentials["oauth2accesstoken"] == "" {
			p.bad("credentials: oauth2accesstoken: the account's access token is required")
		}
		if in.Infos["authtype"] == "" {
			in.Infos = cloneWith(in.Infos, "authtype", "oauth2")
		}
	default:
		p.bad("protocol is not one of email, imap, smtp, twitter, mastodon")
	}
	if in.PollInterval != nil {
		poll = *in.PollInterval
	}
	status := checkStatus(&p, in.Status)
	checkPoll(&p, poll)
	checkMap(&p, "infos", in.Infos)
	checkMap(&p, "credentials", in.Credentials)
	if err := p.err(); err != nil {
		return store.Identity{}, err
	}
	infos := in.Infos
	if infos["authtype"] == "" && hasPassword(in.Credentials) {
		infos = cloneWith(infos, "authtype", "login-password")
	}
	return store.Identity{UserID: userID, Type: store.RemoteIdentity, Protocol: in.Protocol,
		Identifier: in.Identifier, DisplayName: orDefault(in.DisplayName, in.Identifier), Status: status,
		PollInterval: time.Duration(poll) * time.Minute, Infos: infos}, nil
}

type remotePatch struct {
	DisplayName  *string           `json:"display_name"`
	Status       *string           `json:"status"`
	PollInterval *int              `json:"poll_interval"`
	Infos        map[string]string `json:"infos"`       // replaces the infos when present
	Credentials  map[string]string `json:"credentials"` // replaces the credentials when present
}

// patchRemote changes a remote account and publishes update_identity.
func (s *server) patchRemote(w http.ResponseWriter, c *call) error {
	var in remotePatch
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	var p problems
	if in.DisplayName == nil && in.Status == nil && in.PollInterval == nil && in.Infos == nil && in.Credentials == nil {
		return badRequest("missing_field",
			`nothing to change: give one of "display_name", "status", "poll_interval", "infos", "credentials"`)
	}
	id, err := s.identityOf(c, store.RemoteIdentity)
	if err != nil {
		return err
	}
	if in.DisplayName != nil {
		id.DisplayName = *in.DisplayName
	}
	if in.Status != nil {
		id.Status = checkStatus(&p, *in.Status)
	} else if in.Credentials != nil && id.Status == store.ReauthRequired {
		id.Status = store.Active // new credentials: polling resumes from the cursor
	}
	if in.PollInterval != nil {
		checkPoll(&p, *in.PollInterval)
		id.PollInterval = time.Duration(*in.PollInterval) * time.Minute
	}
	if in.Infos != nil {
		checkMap(&p, "infos", in.Infos)
		id.Infos = in.Infos
	}
	checkMap(&p, "credentials", in.Credentials)
	if err := p.err(); err != nil {
		return err
	}
	if in.Credentials != nil {
		sealed, err := s.seal(id.ID, in.Credentials)
		if err != nil {
			return err
		}
		if err := s.st.SetCredentials(c.ctx, c.user.ID, id.ID, sealed); err != nil {
			return storeError("identity", err)
		}
	}
	o, err := s.identityOrder(c, contract.OrderUpdateIdentity, id.ID)
	if err != nil {
		return err
	}
	if id, err = s.st.UpdateIdentity(c.ctx, id, o); err != nil {
		return storeError("identity", err)
	}
	s.send(c, o)
	return reply(w, http.StatusOK, viewIdentity(id))
}

// deleteRemote removes a remote account and publishes delete_identity.
func (s *server) deleteRemote(w http.ResponseWriter, c *call) error {
	id, err := s.identityOf(c, store.RemoteIdentity)
	if err != nil {
		return err
	}
	o, err := s.identityOrder(c, contract.OrderDeleteIdentity, id.ID)
	if err != nil {
		return err
	}
	if err := s.st.DeleteIdentity(c.ctx, c.user.ID, id.ID, o); err != nil {
		return storeError("identity", err)
	}
	s.send(c, o)
	return noContent(w)
}

// seal encrypts credentials for identity id; the identity id is the
// sealing context, so sealed credentials cannot be moved onto another
// identity. Whoever opens them passes the same id.
func (s *server) seal(identityID string, creds map[string]string) (secrets.Sealed, error) {
	plain, err := json.Marshal(creds)
	if err != nil {
		return secrets.Sealed{}, fmt.Errorf("encode credentials: %w", err)
	}
	sealed, err := s.sealer.Seal(plain, []byte(identityID))
	if err != nil {
		return secrets.Sealed{}, fmt.Errorf("seal credentials of identity %s: %w", identityID, err)
	}
	return sealed, nil
}

// checkStatus returns the store status of s ("" is active).
func checkStatus(p *problems, s string) store.IdentityStatus {
	switch st := store.IdentityStatus(strings.ToLower(strings.TrimSpace(s))); st {
	case "", store.Active:
		return store.Active
	case store.Inactive:
		return st
	}
	p.bad("status must be active or inactive")
	return ""
}

func checkPoll(p *problems, minutes int) {
	if minutes < 1 || minutes > maxPollMinutes {
		p.bad("poll_interval must be from 1 to %d minutes", maxPollMinutes)
	}
}

// checkMap bounds a map of strings: entry count, empty keys, value size.
func checkMap(p *problems, field string, m map[string]string) {
	if len(m) > maxMapEntries {
		p.bad("%s has more than %d entries", field, maxMapEntries)
	}
	for k, v := range m {
		if strings.TrimSpace(k) == "" || len(k) > 64 || len(v) > maxMapValueLen {
			p.bad("%s: keys must be 1 to 64 characters and values at most %d bytes", field, maxMapValueLen)
			return
		}
	}
}

// hasPassword reports whether login-password credentials are given.
func hasPassword(creds map[string]string) bool {
	for k := range creds {
		if strings.Contains(strings.ToLower(k), "password") {
			return true
		}
	}
	return false
}

// cloneWith returns a copy of m with k set to v.
func cloneWith(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for mk, mv := range m {
		out[mk] = mv
	}
	out[k] = v
	return out
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// remotesQuota refuses one more remote identity to a user who has
// MaxRemotes (403 quota_exceeded): each one is polled and dialled.
func (s *server) remotesQuota(c *call) error {
	have, err := s.st.ListIdentities(c.ctx, c.user.ID, store.IdentityFilter{Type: store.RemoteIdentity})
	if err != nil {
		return storeError("identities", err)
	}
	if len(have) >= s.cfg.MaxRemotes {
		return &apiError{status: http.StatusForbidden, code: "quota_exceeded",
			msg: fmt.Sprintf("at most %d remote identities per user", s.cfg.MaxRemotes)}
	}
	return nil
}
