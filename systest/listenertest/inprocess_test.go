package listenertest_test

import (
	"context"
	"net/http"
	"strings"
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
