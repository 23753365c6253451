package smtpdeliver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/store"
)

// route is where a draft goes.
type route struct {
	// server is the relay (local sender) or the identity's server.
	server outbound.Server
	// local is true for a local sender, whose mail to hosted addresses
	// is delivered without the relay.
	local bool
}

// route picks the server for draft m from its sender identity.
func (d *deliverer) route(ctx context.Context, m store.Message) (route, error) {
	ident, err := d.sender(ctx, m)
	if err != nil {
		return route{}, err
	}
	if ident.Type == store.LocalIdentity {
		srv := d.cfg.Relay
		srv.Timeout = d.cfg.SMTPTimeout
		return route{server: srv, local: true}, nil
	}
	if d.deps.Tokens != nil {
		if ident, err = d.deps.Tokens.Fresh(ctx, ident); err != nil {
			return route{}, fnhttp.WithCode(err, "token_refresh_failed")
		}
	}
	srv, err := d.remoteServer(ident)
	if err != nil {
		return route{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s: %w", ident.ID, err)), "bad_credentials")
	}
	return route{server: srv}, nil
}

// sender loads the draft's sending identity (its first one).
func (d *deliverer) sender(ctx context.Context, m store.Message) (store.Identity, error) {
	if len(m.IdentityIDs) == 0 {
		return store.Identity{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("message %s (user %s) has no user identity",
			m.ID, m.UserID)), "unknown_identity")
	}
	ident, err := d.deps.Store.GetIdentity(ctx, m.UserID, m.IdentityIDs[0])
	if err != nil {
		return store.Identity{}, storeErr("load sender identity "+m.IdentityIDs[0], err, "unknown_identity")
	}
	return ident, nil
}

// remoteServer is a remote identity's own SMTP server with its credentials.
func (d *deliverer) remoteServer(ident store.Identity) (outbound.Server, error) {
	addr := strings.TrimSpace(ident.Infos["outserver"])
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return outbound.Server{}, fmt.Errorf("outserver %q is not host:port", addr)
	}
	srv := outbound.Server{Addr: addr, HelloName: d.cfg.HelloName, Timeout: d.cfg.SMTPTimeout, TLS: outbound.TLSStart}
	if port == "465" {
		srv.TLS = outbound.TLSImplicit
	}
	if v := ident.Infos["outtls"]; v != "" {
		if srv.TLS, err = outbound.ParseTLSMode(v); err != nil {
			return outbound.Server{}, err
		}
	}
	if ident.Credentials.IsZero() {
		return outbound.Server{}, errors.New("remote identity has no credentials")
	}
	plain, err := d.deps.Keyring.Open(ident.Credentials, []byte(ident.ID))
	if err != nil {
		return outbound.Server{}, fmt.Errorf("open credentials: %w", err)
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil {
		return outbound.Server{}, errors.New("credentials are not a JSON object")
	}
	switch a := strings.ToLower(ident.Infos["authtype"]); a {
	case "oauth2":
		srv.Auth, srv.Username, srv.Token = outbound.AuthXOAuth2, creds["username"], creds["oauth2accesstoken"]
	case "", "login-password":
		srv.Auth, srv.Username, srv.Password = outbound.AuthPlain, creds["outusername"], creds["outpassword"]
	case "oauth1":
		return outbound.Server{}, errors.New("oauth1 mechanism not implemented")
	default:
		return outbound.Server{}, fmt.Errorf("unknown auth mechanism %q", a)
	}
	if err := srv.Check(); err != nil {
		return outbound.Server{}, err
	}
	return srv, nil
}
