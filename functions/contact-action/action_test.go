package contactaction

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

// fixture is contact-action behind the shared adapter on SQLite.
type fixture struct {
	t   *testing.T
	st  *store.SQL
	h   http.Handler
	now time.Time
	uid string
}

func newFixture(t *testing.T) *fixture {
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{t: t, st: st, now: day0.Add(30 * 24 * time.Hour)}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	core, err := Build(func(string) string { return "" }, Deps{Store: st, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.h = fnhttp.New(fnhttp.Config{Function: "contact-action"}, contract.Caliopen(), core, log)
	u, err := st.CreateUser(context.Background(), store.User{Name: "bob", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f.uid = u.ID
	return f
}

// send posts contact_update for contact id of user uid.
func (f *fixture) send(uid, id string) (int, string) {
	body, _ := json.Marshal(contract.ContactOrder{Order: contract.OrderContactUpdate, ContactID: id, UserID: uid})
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Nats-Subject", contract.SubjectContactAction)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("Nats-Service-Error-Code")
}

func (f *fixture) contact(id string) store.Contact {
	f.t.Helper()
	c, err := f.st.GetContact(context.Background(), f.uid, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func TestContactUpdate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.st.CreateContact(ctx, store.Contact{UserID: f.uid, Title: "Zoé",
		Emails: []store.ContactEmail{{Address: "zoe@example.org"}}, Phones: []store.Phone{{Number: "+33 1"}},
		Identities: []store.SocialIdentity{{Type: "twitter", Name: "zoe"}}})
	if err != nil {
		t.Fatal(err)
	}
	if status, code := f.send(f.uid, c.ID); status != http.StatusOK {
		t.Fatalf("contact_update = %d %s", status, code)
	}
	got := f.contact(c.ID)
	if got.PI.Comportment != 15 || got.PI.Technic != 0 || got.PI.Context != 0 || !got.PI.DateUpdate.Equal(f.now) {
		t.Errorf("pi = %+v, want comportment 15 dated now", got.PI)
	}
	if got.PrivacyFeatures[FeatureProtocols] != "3" || got.PrivacyFeatures[FeatureDayTotal] != "0" {
		t.Errorf("features = %v", got.PrivacyFeatures)
	}

	// Twelve messages with Zoé over three days and a 4096-bit key.
	for i := range 12 {
		m := store.Message{UserID: f.uid, Protocol: store.ProtocolEmail, IsReceived: true,
			Date:         day0.Add(time.Duration(i%3) * 24 * time.Hour),
			Participants: []store.Participant{{Type: "From", Address: "Zoe@Example.org"}, {Type: "To", Address: "bob@x"}},
			External:     store.ExternalRefs{MessageID: "m" + string(rune('a'+i))}}
		if _, _, err := f.st.PutInbound(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.st.UpsertPublicKey(ctx, store.PublicKey{UserID: f.uid, ContactID: c.ID, Fingerprint: "AA",
		Armored: "x", Algorithm: "rsa", Size: 4096}); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour)
	if status, code := f.send(f.uid, c.ID); status != http.StatusOK {
		t.Fatalf("contact_update = %d %s", status, code)
	}
	got = f.contact(c.ID)
	if got.PI.Technic != 30 || got.PI.Context != 10 || got.PI.Comportment != 15 {
		t.Errorf("pi = %+v, want technic 30 context 10 comportment 15", got.PI)
	}
	if got.PrivacyFeatures[FeatureDayTotal] != "12" || got.PrivacyFeatures[FeatureDayAvg] != "4.000" ||
		got.PrivacyFeatures[FeatureKeyBestSize] != "4096" {
		t.Errorf("features = %v", got.PrivacyFeatures)
	}

	// Again: nothing changes, not even the date.
	stamp := got.PI.DateUpdate
	f.now = f.now.Add(time.Hour)
	if status, _ := f.send(f.uid, c.ID); status != http.StatusOK {
		t.Fatal(status)
	}
	if again := f.contact(c.ID); !again.PI.DateUpdate.Equal(stamp) || !again.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("a repeated contact_update rewrote the contact: %v → %v", stamp, again.PI.DateUpdate)
	}
}

func TestContactUpdateUnknown(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ name, uid, cid, code string }{
		{"unknown contact", f.uid, "nope", "unknown_contact"},
		{"unknown user", "nobody", "nope", "unknown_user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code := f.send(tc.uid, tc.cid)
			if status < 400 || status >= 500 || status == http.StatusNotFound || code != tc.code {
				t.Errorf("= %d %q, want a permanent 4xx (not 404) with code %s", status, code, tc.code)
			}
		})
	}
}
