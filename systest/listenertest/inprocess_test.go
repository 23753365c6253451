package listenertest_test

import (
	"context"
	"testing"

	"github.com/caliopen/functions/systest/listenertest"
)

// With InProcess the connector reaches inbound-email without its TCP
// server, as the local system does: mail is still processed once that
// server is stopped.
func TestStackInProcess(t *testing.T) {
	s := startStackWith(t, listenertest.Options{InProcess: true})
	userID, _ := addUser(t, s, "alice")
	if err := s.StopFunction(); err != nil {
		t.Fatal(err)
	}
	if err := send(t, s.SMTPAddr, []string{"alice@example.test"}, testMail("inproc", 512)); err != nil {
		t.Fatalf("delivery with the function's TCP server stopped: %v", err)
	}
	if n, err := s.CountMessages(context.Background(), userID); err != nil || n != 1 {
		t.Fatalf("%d messages stored (%v), want 1", n, err)
	}
}
