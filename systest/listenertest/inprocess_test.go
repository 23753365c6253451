package listenertest_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	inboundemail "github.com/caliopen/functions/functions/inbound-email"
	"github.com/caliopen/functions/system/systemtest"
)

// By default the connector reaches inbound-email in process, as the local
// system does: the gateway's listener refuses it (403: it serves only the
// HTTP functions), and mail is processed all the same. With OverTCP the
// connector goes through that listener, which serves every function (an
// unsigned call is refused by the function itself: 401).
func TestStackInProcessAndOverTCP(t *testing.T) {
	t.Parallel()
	for _, overTCP := range []bool{false, true} {
		s := startStackWith(t, systemtest.Options{OverTCP: overTCP})
		userID, _ := addUser(t, s, "alice")
		res, err := http.Post(s.GatewayURL+"/function/"+inboundemail.Name, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		want := http.StatusForbidden
		if overTCP {
			want = http.StatusUnauthorized
		}
		if res.StatusCode != want {
			t.Errorf("overTCP %v: the gateway's listener answered %d for %s, want %d", overTCP, res.StatusCode, inboundemail.Name, want)
		}
		if err := send(t, s.SMTPAddr, []string{"alice@example.test"}, testMail("inproc", 512)); err != nil {
			t.Fatalf("overTCP %v: delivery: %v", overTCP, err)
		}
		if n, err := s.CountMessages(context.Background(), userID); err != nil || n != 1 {
			t.Fatalf("overTCP %v: %d messages stored (%v), want 1", overTCP, n, err)
		}
	}
}

// A function wrapped by the harness still answers through the real one;
// a fault put in front of it reaches the listener as a temporary failure.
func TestWrapFunction(t *testing.T) {
	t.Parallel()
	s := startStackWith(t, systemtest.Options{})
	userID, _ := addUser(t, s, "alice")
	var fail atomic.Bool
	fail.Store(true)
	s.Wrap(inboundemail.Name, func(real http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if fail.Load() {
				http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
				return
			}
			real.ServeHTTP(w, r)
		})
	})
	if err := send(t, s.SMTPAddr, []string{"alice@example.test"}, testMail("wrapped", 512)); code(err) != 451 {
		t.Fatalf("with a fault in front of inbound-email: %v, want 451", err)
	}
	fail.Store(false)
	if err := send(t, s.SMTPAddr, []string{"alice@example.test"}, testMail("wrapped", 512)); err != nil {
		t.Fatalf("through the real function: %v", err)
	}
	if n, err := s.CountMessages(context.Background(), userID); err != nil || n != 1 {
		t.Fatalf("%d messages stored (%v), want 1", n, err)
	}
}
