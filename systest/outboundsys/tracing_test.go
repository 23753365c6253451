package outboundsys_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/outbound/outboundtest"
	"github.com/caliopen/functions/system/systemtest"
	"github.com/caliopen/functions/systest/jaegertest"
)

// TestSendIsOneTrace follows a send from a remote identity into Jaeger:
// API → connector → imap-deliver → outboundSMTP → smtp-deliver → the
// account's SMTP server, and the copy to Sent, in one trace.
func TestSendIsOneTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Jaeger and Dovecot")
	}
	service := "send-" + time.Now().Format("150405.000000")
	tp, j := jaegertest.Exporting(t, service)
	dv := outboundtest.DovecotIMAP(t)
	account := outboundtest.StartFakeSMTP(t)
	account.RequireAuth("alice.remote", "smtp-pass")
	relay := outboundtest.StartFakeSMTP(t)
	sys := startWith(t, systemtest.Options{RelayAddr: relay.Addr, Tracing: tp})
	ctx := context.Background()
	alice, identID := aliceRemote(t, sys, account.Addr, dv, "")
	id, err := alice.Draft(ctx, identID, []string{"friend@example.org"}, "Traced "+time.Now().Format(time.RFC3339Nano), "Hi.")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := alice.Send(ctx, id)
	if err != nil || !strings.Contains(msg, "has been sent") || strings.Contains(msg, "failed") {
		t.Fatalf("send: %q %v", msg, err)
	}
	if account.Attempts() != 1 {
		t.Fatalf("the account's server got %d messages, want 1", account.Attempts())
	}
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	send := jaegertest.With(jaegertest.Traces(t, j, service, "smtp send"), "smtp send")
	api := "api POST /api/v2/messages/{id}/actions"
	jaegertest.CheckChain(t, send, []string{api, "request outboundIMAP", "connector outboundIMAP", "imap-deliver deliver",
		"request outboundSMTP", "connector outboundSMTP", "smtp-deliver deliver", "smtp send"})
	jaegertest.CheckChain(t, send, []string{api, "request outboundIMAP", "connector outboundIMAP", "imap-deliver deliver",
		"imap append sent"})
}
