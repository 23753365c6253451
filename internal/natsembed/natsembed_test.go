package natsembed_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/natsembed"
)

// TestUsers: given users, the server refuses anonymous clients and wrong
// passwords, holds each user to its subjects, and accepts an in-process-only
// user on an in-process connection alone.
func TestUsers(t *testing.T) {
	s, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir(), Users: []natsembed.User{
		{Name: "inner", Password: "pw-inner", Publish: []string{">"}, Subscribe: []string{">"}, InProcessOnly: true},
		{Name: "client", Password: "pw-client", Publish: []string{"allowed"}, Subscribe: []string{"_INBOX_client.>"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	url := s.ClientURL()
	for _, tc := range []struct {
		name string
		opts []nats.Option
	}{
		{"anonymous", nil},
		{"wrong password", []nats.Option{nats.UserInfo("client", "guess")}},
		{"in-process user over TCP", []nats.Option{nats.UserInfo("inner", "pw-inner")}},
	} {
		if nc, err := nats.Connect(url, append(tc.opts, nats.MaxReconnects(0))...); err == nil {
			nc.Close()
			t.Errorf("%s: accepted", tc.name)
		} else if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			t.Errorf("%s: %v, want an authorization violation", tc.name, err)
		}
	}
	inner, err := nats.Connect("", nats.InProcessServer(s), nats.UserInfo("inner", "pw-inner"))
	if err != nil {
		t.Fatalf("in-process user in process: %v", err)
	}
	defer inner.Close()
	got := make(chan string, 4)
	for _, subj := range []string{"allowed", "denied"} {
		if _, err := inner.Subscribe(subj, func(m *nats.Msg) { got <- m.Subject }); err != nil {
			t.Fatal(err)
		}
	}
	inner.Flush()
	errs := make(chan error, 4)
	client, err := nats.Connect(url, nats.UserInfo("client", "pw-client"), nats.CustomInboxPrefix("_INBOX_client"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.Publish("denied", nil)
	client.Publish("allowed", nil)
	client.Flush()
	select {
	case subj := <-got:
		if subj != "allowed" {
			t.Errorf("received on %s, want only allowed", subj)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received on allowed")
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "Permissions Violation") {
			t.Errorf("publish on denied: %v, want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("publish on denied: no permissions violation reported")
	}
	select {
	case subj := <-got:
		t.Errorf("received on %s after the refusal", subj)
	case <-time.After(200 * time.Millisecond):
	}
}
