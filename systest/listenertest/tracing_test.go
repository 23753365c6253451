package listenertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/caliopen/functions/system/systemtest"
	"github.com/caliopen/functions/systest/jaegertest"
)

// TestInboundMailIsOneTrace follows one mail into Jaeger: SMTP listener →
// connector → inbound-email → store, in one trace.
func TestInboundMailIsOneTrace(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs Jaeger")
	}
	service := "inbound-" + time.Now().Format("150405.000000")
	tp, j := jaegertest.Exporting(t, service)
	s := startStackWith(t, systemtest.Options{Tracing: tp})
	userID, _ := addUser(t, s, "alice")
	if err := send(t, s.SMTPAddr, []string{"alice@example.test"}, testMail("traced", 512)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountMessages(context.Background(), userID); err != nil || n != 1 {
		t.Fatalf("%d messages stored (%v), want 1", n, err)
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	trs := jaegertest.Traces(t, j, service, "inbound-email process_inbound")
	jaegertest.CheckChain(t, trs, []string{"smtp receive", "request inboundSMTP", "connector inboundSMTP",
		"inbound-email process_inbound", "store tx", "store row"})
	jaegertest.CheckChain(t, trs, []string{"smtp receive", "blob put"})
}
