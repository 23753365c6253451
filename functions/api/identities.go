package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/store"
)

// identityOf returns identity id of the caller if it is of type t; any
// other identity, the caller's of another type included, is not found.
func (s *server) identityOf(c *call, t store.IdentityType) (store.Identity, error) {
	id, err := s.st.GetIdentity(c.ctx, c.user.ID, c.r.PathValue("id"))
	if err != nil {
		return store.Identity{}, storeError("identity", err)
	}
	if id.Type != t {
		return store.Identity{}, notFound("identity")
	}
	return id, nil
}

// listIdentities lists the caller's identities of type t.
func (s *server) listIdentities(t store.IdentityType) handlerFunc {
	return func(w http.ResponseWriter, c *call) error {
		ids, err := s.st.ListIdentities(c.ctx, c.user.ID, store.IdentityFilter{Type: t})
		if err != nil {
			return storeError("identities", err)
		}
		return reply(w, http.StatusOK, map[string]any{"identities": mapViews(ids, viewIdentity)})
	}
}

// getIdentity returns one of the caller's identities of type t.
func (s *server) getIdentity(t store.IdentityType) handlerFunc {
	return func(w http.ResponseWriter, c *call) error {
		id, err := s.identityOf(c, t)
		if err != nil {
			return err
		}
		return reply(w, http.StatusOK, viewIdentity(id))
	}
}

type localRequest struct {
	Identifier  string `json:"identifier"` // "alias" or "alias@<local domain>"
	DisplayName string `json:"display_name"`
}

// createLocal adds a local address for the caller. No order: the
// identities worker polls remote identities only. A user who is not an
// admin takes only their own name or name+tag (accounts.UserMayClaim).
func (s *server) createLocal(w http.ResponseWriter, c *call) error {
	return s.addLocal(w, c, c.user, c.user.IsAdmin)
}

// adminCreateLocal adds a local address, any free one, for the user named
// in the path: POST /api/v2/admin/users/{id}/identities.
func (s *server) adminCreateLocal(w http.ResponseWriter, c *call) error {
	u, err := s.st.GetUser(c.ctx, c.r.PathValue("id"))
	if err != nil {
		return storeError("user", err)
	}
	return s.addLocal(w, c, u, true)
}

// addLocal creates the local identity the request body asks for, for u;
// byAdmin lifts the rules of the addresses a user may take.
func (s *server) addLocal(w http.ResponseWriter, c *call, u store.User, byAdmin bool) error {
	var in localRequest
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	var p problems
	p.require(in.Identifier != "", "identifier")
	local, domain, hasDomain := strings.Cut(strings.ToLower(strings.TrimSpace(in.Identifier)), "@")
	if in.Identifier != "" {
		if err := accounts.CheckLocalPart(local); err != nil {
			p.bad("identifier: local part: %v", err)
		}
		if hasDomain && domain != s.accounts.LocalDomain() {
			p.bad("identifier: local addresses are in the domain %s", s.accounts.LocalDomain())
		}
	}
	if err := p.err(); err != nil {
		return err
	}
	if !byAdmin {
		if err := accounts.UserMayClaim(u.Name, local); err != nil {
			return &apiError{status: http.StatusForbidden, code: "forbidden", msg: err.Error()}
		}
	}
	id, err := s.st.CreateIdentity(c.ctx, store.Identity{ID: c.newID(), UserID: u.ID, Type: store.LocalIdentity,
		Protocol: store.ProtocolEmail, Identifier: s.accounts.LocalAddress(local), DisplayName: in.DisplayName})
	if errors.Is(err, store.ErrConflict) {
		return &apiError{status: http.StatusConflict, code: "conflict", msg: "the address is taken", err: err}
	}
	if err != nil {
		return storeError("identity", err)
	}
	return reply(w, http.StatusCreated, viewIdentity(id))
}

type localPatch struct {
	DisplayName *string `json:"display_name"`
}

// patchLocal renames a local identity.
func (s *server) patchLocal(w http.ResponseWriter, c *call) error {
	var in localPatch
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	if in.DisplayName == nil {
		return badRequest("missing_field", `nothing to change: give "display_name"`)
	}
	id, err := s.identityOf(c, store.LocalIdentity)
	if err != nil {
		return err
	}
	id.DisplayName = *in.DisplayName
	if id, err = s.st.UpdateIdentity(c.ctx, id); err != nil {
		return storeError("identity", err)
	}
	return reply(w, http.StatusOK, viewIdentity(id))
}

// deleteLocal removes a local address; the last one stays.
func (s *server) deleteLocal(w http.ResponseWriter, c *call) error {
	id, err := s.identityOf(c, store.LocalIdentity)
	if err != nil {
		return err
	}
	locals, err := s.st.ListIdentities(c.ctx, c.user.ID, store.IdentityFilter{Type: store.LocalIdentity})
	if err != nil {
		return storeError("identities", err)
	}
	if len(locals) <= 1 {
		return &apiError{status: http.StatusConflict, code: "conflict", msg: "a user keeps at least one local identity"}
	}
	if err := s.st.DeleteIdentity(c.ctx, c.user.ID, id.ID); err != nil {
		return storeError("identity", err)
	}
	return noContent(w)
}
