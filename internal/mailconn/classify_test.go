package mailconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/caliopen/functions/internal/netguard"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("dial: %w: 127.0.0.1", netguard.ErrForbidden), ClassRefused},
		{fmt.Errorf("%w: no inserver", ErrSettings), ClassSettings},
		{fmt.Errorf("imap %w: NO [AUTHENTICATIONFAILED]", ErrAuthFailed), ClassAuth},
		{fmt.Errorf("x: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), ClassTLS},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, ClassUnreachable},
		{fmt.Errorf("read: %w", io.EOF), ClassUnreachable},
		{context.DeadlineExceeded, ClassUnreachable},
		{errors.New("in response to LOGIN: unexpected INFO {\"server_id\":...}"), ClassProtocol},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
		if got := UserError(tc.err); got == "" || got[:len(tc.want)] != tc.want || len(got) < len(tc.want)+5 {
			t.Errorf("UserError(%v) = %q", tc.err, got)
		}
	}
}
