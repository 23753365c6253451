package imapsync

import (
	"fmt"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/mailconn"
)

// ErrLoginRefused marks a login the server refused (NO or BAD): the
// credentials must change before a retry can succeed.
var ErrLoginRefused = fmt.Errorf("imap %w", mailconn.ErrAuthFailed)

// refused classifies a refused login: permanent.
func refused(err error) error { return faults.Perm(fmt.Errorf("%w: %w", ErrLoginRefused, err)) }

// unreachable classifies a failure to connect, to secure the connection
// or to talk with the server: temporary.
func unreachable(err error) error { return faults.Temp(err) }
