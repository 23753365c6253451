package smtpdeliver

import (
	"context"
	"fmt"
	"net"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/mailconn"
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
		srv.Dialer = &net.Dialer{} // the operator's relay: no egress guard
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

// remoteServer is a remote identity's own SMTP server with its credentials
// (package mailconn).
func (d *deliverer) remoteServer(ident store.Identity) (outbound.Server, error) {
	set, err := mailconn.SMTP(ident, d.deps.Keyring)
	if err != nil {
		return outbound.Server{}, err
	}
	srv := outbound.Server{Addr: set.Addr, TLS: set.TLS, Auth: set.Mech, Username: set.User,
		HelloName: d.cfg.HelloName, Timeout: d.cfg.SMTPTimeout, Dialer: d.cfg.Guard.DialerFor(set.Addr, 0, nil)}
	if set.Mech == mailconn.MechXOAuth2 {
		srv.Token = set.Secret
	} else {
		srv.Password = set.Secret
	}
	if err := srv.Check(); err != nil {
		return outbound.Server{}, err
	}
	return srv, nil
}
