package imapsync

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/store"
)

// Opener opens sealed credentials; *secrets.Keyring is one.
type Opener = mailconn.Opener

// Account is how to reach and log in to a remote IMAP account.
type Account struct {
	Addr string           // host:port
	TLS  mailconn.TLSMode // none, starttls, tls
	Auth mailconn.Mech    // MechLogin (or none) is the LOGIN command
	User string
	// Secret is the password, or the access token for XOAUTH2.
	Secret string
	// Timeout bounds the dial and each command's wait.
	Timeout time.Duration
	// TLSConfig is used for TLS; nil verifies the server's certificate
	// against the system roots for the host of Addr.
	TLSConfig *tls.Config
	// Dialer connects (its Timeout bounds the dial); nil is the egress
	// guard's without allow list (netguard). AccountOf sets the guard's
	// with the operator's allow list: the server is the user's choice.
	Dialer *net.Dialer
}

// String describes the account without its secret.
func (a Account) String() string {
	return fmt.Sprintf("imap %s (%s, %s, user %s)", a.Addr, a.TLS, a.Auth, a.User)
}

// AccountOf reads ident's IMAP settings and opens its credentials
// (package mailconn); a problem is permanent (mailconn.ErrSettings). The
// server is dialled through guard.
func AccountOf(ident store.Identity, keys Opener, timeout time.Duration, guard netguard.Guard) (Account, error) {
	set, err := mailconn.IMAP(ident, keys)
	if err != nil {
		return Account{}, faults.Perm(err)
	}
	return Account{Addr: set.Addr, TLS: set.TLS, Auth: set.Mech, User: set.User, Secret: set.Secret, Timeout: timeout,
		Dialer: guard.DialerFor(set.Addr, timeout, nil)}, nil
}
