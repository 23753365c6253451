package hostile

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/mailconn"
)

// TestEgressRemoteIdentityAtLoopback: a user points a remote identity's
// IMAP and SMTP servers at a loopback service (here one that greets like
// NATS). The system never connects to it: the sync fails with a
// classified error (destination_refused), and GET /identities/remotes
// shows that class, never what listens there; a mail sent through the
// identity fails the same way. With the operator's allow list naming
// 127.0.0.1 (as for an internal relay), the same identity is dialled.
func TestEgressRemoteIdentityAtLoopback(t *testing.T) {
	const banner = "INFO {\"server_id\":\"NDSECRET\",\"version\":\"2.10.0\"}\r\n"
	svc := egressStartService(t, banner)
	s := egressSystem(t, nil)
	ctx := context.Background()
	c, err := s.NewUser(ctx, "mallory", "mallory-password-1")
	if err != nil {
		t.Fatal(err)
	}
	var ident struct {
		ID     string `json:"identity_id"`
		UserID string `json:"user_id"`
	}
	if _, err := c.Do(ctx, http.MethodPost, "/identities/remotes", map[string]any{"protocol": "email",
		"identifier":  "mallory@remote.example",
		"infos":       map[string]string{"inserver": svc.Addr, "intls": "none", "outserver": svc.Addr, "outtls": "none"},
		"credentials": map[string]string{"inusername": "m", "inpassword": "p", "outusername": "m", "outpassword": "p"}},
		&ident); err != nil {
		t.Fatal(err)
	}
	egressSyncNow(t, s, ident.UserID, ident.ID)
	var view struct {
		Sync struct {
			LastError  string `json:"last_error"`
			ErrorCount int    `json:"error_count"`
		} `json:"sync"`
	}
	for deadline := time.Now().Add(30 * time.Second); view.Sync.LastError == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no sync failure recorded after 30 s")
		}
		if _, err := c.Do(ctx, http.MethodGet, "/identities/remotes/"+ident.ID, nil, &view); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(view.Sync.LastError, mailconn.ClassRefused+":") || strings.Contains(view.Sync.LastError, "NDSECRET") ||
		strings.Contains(view.Sync.LastError, "127.0.0.1") {
		t.Errorf("sync.last_error %q, want the class %s only", view.Sync.LastError, mailconn.ClassRefused)
	}

	draft, err := c.Draft(ctx, ident.ID, []string{"bob@example.org"}, "hi", "body")
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.Send(ctx, draft)
	if err != nil && !strings.Contains(err.Error(), mailconn.ClassRefused) {
		t.Errorf("send through the identity: %v, want the class %s", err, mailconn.ClassRefused)
	}
	if strings.Contains(reply, "NDSECRET") || err != nil && strings.Contains(err.Error(), "NDSECRET") {
		t.Errorf("the send's answer shows the service's banner: %q %v", reply, err)
	}
	if n := svc.accepted.Load(); n != 0 {
		t.Errorf("the loopback service was connected to %d times", n)
	}
	t.Logf("sync.last_error %q; send: %q %v", view.Sync.LastError, reply, err)
}

// TestEgressAllowListLetsThrough: the operator's allow list (one setting,
// CALIOPEN_EGRESS_ALLOW) lets the named address through: the sync
// connects, and what it shows is still a class.
func TestEgressAllowListLetsThrough(t *testing.T) {
	svc := egressStartService(t, "* BYE not an imap server NDSECRET\r\n")
	s := egressSystem(t, map[string]string{"CALIOPEN_EGRESS_ALLOW": "127.0.0.1"})
	ctx := context.Background()
	c, err := s.NewUser(ctx, "olivia", "olivia-password-1")
	if err != nil {
		t.Fatal(err)
	}
	var ident struct {
		ID     string `json:"identity_id"`
		UserID string `json:"user_id"`
	}
	if _, err := c.Do(ctx, http.MethodPost, "/identities/remotes", map[string]any{"protocol": "email",
		"identifier": "olivia@remote.example", "infos": map[string]string{"inserver": svc.Addr, "intls": "none"},
		"credentials": map[string]string{"inusername": "o", "inpassword": "p"}}, &ident); err != nil {
		t.Fatal(err)
	}
	egressSyncNow(t, s, ident.UserID, ident.ID)
	for deadline := time.Now().Add(30 * time.Second); svc.accepted.Load() == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the allowed server was not dialled within 30 s")
		}
	}
	var view struct {
		Sync struct {
			LastError string `json:"last_error"`
		} `json:"sync"`
	}
	for deadline := time.Now().Add(10 * time.Second); view.Sync.LastError == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no sync failure recorded")
		}
		if _, err := c.Do(ctx, http.MethodGet, "/identities/remotes/"+ident.ID, nil, &view); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(view.Sync.LastError, "NDSECRET") || strings.HasPrefix(view.Sync.LastError, mailconn.ClassRefused) ||
		!strings.Contains(fmt.Sprint([]string{mailconn.ClassUnreachable, mailconn.ClassProtocol}), strings.Split(view.Sync.LastError, ":")[0]) {
		t.Errorf("sync.last_error %q, want unreachable or protocol_error, without the server's words", view.Sync.LastError)
	}
}
