package identitiesorders

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

func TestAddIdentity(t *testing.T) {
	h := newHarness(t)
	mail := h.identity(store.RemoteIdentity, store.ProtocolEmail, "a@r.example", store.Active)
	tw := h.identity(store.RemoteIdentity, store.ProtocolTwitter, "alice", store.Active)
	off := h.identity(store.RemoteIdentity, store.ProtocolEmail, "off@r.example", store.Inactive)
	local := h.identity(store.LocalIdentity, store.ProtocolEmail, "a@caliopen.test", store.Active)
	smtp := h.identity(store.RemoteIdentity, "smtp", "s@r.example", store.Active)
	for _, tc := range []struct {
		name string
		id   store.Identity
		next time.Time // zero: no schedule
	}{
		{"e-mail", mail, h.clock()},
		{"twitter", tw, h.clock()},
		{"inactive", off, time.Time{}},
		{"local", local, time.Time{}},
		{"not polled protocol", smtp, time.Time{}},
	} {
		h.ok(h.order(contract.IdentityOrder{IdentityID: tc.id.ID, Order: contract.OrderAddIdentity}))
		if got := h.next(tc.id); !got.Equal(tc.next) {
			t.Errorf("%s: next run %v, want %v", tc.name, got, tc.next)
		}
	}
	// A redelivery after the scheduler moved the run changes nothing.
	later := h.clock().Add(15 * time.Minute)
	if err := h.st.SetNextRun(context.Background(), h.user.ID, mail.ID, later); err != nil {
		t.Fatal(err)
	}
	h.advance(time.Minute)
	h.ok(h.order(contract.IdentityOrder{IdentityID: mail.ID, Order: contract.OrderAddIdentity}))
	if got := h.next(mail); !got.Equal(later) {
		t.Errorf("redelivered add_identity moved the run to %v", got)
	}
}

func TestUnknownIdentity(t *testing.T) {
	h := newHarness(t)
	for _, ord := range []contract.IdentityOrder{
		{IdentityID: "nope", Order: contract.OrderAddIdentity},
		{IdentityID: "nope", Order: contract.OrderUpdateIdentity},
		{IdentityID: "nope", Order: contract.OrderUpdateInterval, PollIntervall: 10, Protocol: "email"},
	} {
		a := h.order(ord)
		if a.status < 400 || a.status >= 500 || a.code != "unknown_identity" || a.reply.OK ||
			!strings.Contains(a.reply.Message, "nope") {
			t.Errorf("%s unknown: status %d code %q reply %+v", ord.Order, a.status, a.code, a.reply)
		}
	}
	// delete_identity follows the API's delete: the identity is gone.
	h.ok(h.order(contract.IdentityOrder{IdentityID: "nope", Order: contract.OrderDeleteIdentity}))
}

func TestUpdateInterval(t *testing.T) {
	h := newHarness(t)
	id := h.identity(store.RemoteIdentity, store.ProtocolEmail, "a@r.example", store.Active)
	h.ok(h.order(contract.IdentityOrder{IdentityID: id.ID, Order: contract.OrderAddIdentity}))
	h.advance(time.Minute)
	ord := contract.IdentityOrder{IdentityID: id.ID, Order: contract.OrderUpdateInterval, PollIntervall: 60, Protocol: "imap"}
	h.ok(h.order(ord))
	want := h.clock().Add(time.Hour)
	if got := h.next(id); !got.Equal(want) {
		t.Errorf("next run after update_interval 60 = %v, want %v", got, want)
	}
	got, err := h.st.GetIdentity(context.Background(), id.UserID, id.ID)
	if err != nil || got.PollInterval != time.Hour {
		t.Fatalf("poll interval %s, %v", got.PollInterval, err)
	}
	h.advance(time.Minute) // redelivered: nothing changes
	h.ok(h.order(ord))
	if got := h.next(id); !got.Equal(want) {
		t.Errorf("redelivered update_interval moved the run to %v", got)
	}
	ord.PollIntervall = 2 // shorter applies at once
	h.ok(h.order(ord))
	if got, want := h.next(id), h.clock().Add(2*time.Minute); !got.Equal(want) {
		t.Errorf("next run after update_interval 2 = %v, want %v", got, want)
	}
	for _, bad := range []contract.Minutes{1441, 100000} {
		ord.PollIntervall = bad
		a := h.order(ord)
		if a.status < 400 || a.status >= 500 || a.code != contract.CodeInvalidField {
			t.Errorf("poll_intervall %d: status %d code %q", bad, a.status, a.code)
		}
	}
}

func TestUpdateAndDeleteIdentity(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.identity(store.RemoteIdentity, store.ProtocolEmail, "a@r.example", store.Active)
	upd := contract.IdentityOrder{IdentityID: id.ID, Order: contract.OrderUpdateIdentity}
	h.ok(h.order(contract.IdentityOrder{IdentityID: id.ID, Order: contract.OrderAddIdentity}))
	if err := h.st.SetNextRun(ctx, id.UserID, id.ID, h.clock().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	id.PollInterval = 5 * time.Minute // the API shortens the interval
	if _, err := h.st.UpdateIdentity(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.ok(h.order(upd))
	if got, want := h.next(id), h.clock().Add(5*time.Minute); !got.Equal(want) {
		t.Errorf("next run after a shorter interval = %v, want %v", got, want)
	}
	id.Status = store.Inactive
	if _, err := h.st.UpdateIdentity(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.ok(h.order(upd))
	if got := h.next(id); !got.IsZero() {
		t.Errorf("inactive identity still scheduled at %v", got)
	}
	id.Status = store.Active
	if _, err := h.st.UpdateIdentity(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.ok(h.order(upd))
	if got := h.next(id); !got.Equal(h.clock()) {
		t.Errorf("re-activated identity scheduled at %v, want now", got)
	}
	del := contract.IdentityOrder{IdentityID: id.ID, Order: contract.OrderDeleteIdentity}
	h.ok(h.order(del))
	h.ok(h.order(del))
	if got := h.next(id); !got.IsZero() {
		t.Errorf("deleted identity still scheduled at %v", got)
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{EnvEmailInterval: "soon", EnvTwitterInterval: "10s"}
	_, err := LoadConfig(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), EnvEmailInterval) || !strings.Contains(err.Error(), "at least a minute") {
		t.Errorf("LoadConfig = %v", err)
	}
	cfg, err := LoadConfig(func(string) string { return "" })
	if err != nil || cfg.Policy.EmailInterval != 15*time.Minute || cfg.Policy.TwitterInterval != 2*time.Minute {
		t.Errorf("defaults %+v, %v", cfg, err)
	}
}
