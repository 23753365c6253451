package keyaction

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/keydiscovery"
	"github.com/caliopen/functions/internal/keydiscovery/keytest"
	"github.com/caliopen/functions/internal/store"
)

// recorder records the orders key-action publishes.
type recorder struct {
	mu     sync.Mutex
	orders []contract.ContactOrder
}

func (r *recorder) Publish(_ context.Context, subject string, payload any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o, ok := payload.(contract.ContactOrder); ok && subject == contract.SubjectContactAction {
		r.orders = append(r.orders, o)
	}
	return nil
}

// fixture is key-action behind the shared adapter on SQLite and a blob
// directory, looking keys up in a keytest world.
type fixture struct {
	t     *testing.T
	st    *store.SQL
	blobs *dirblob.Store
	h     http.Handler
	w     *keytest.World
	em    *recorder
	user  store.User
}

func newFixture(t *testing.T, env func(w *keytest.World) map[string]string) *fixture {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	blobs, err := dirblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, blobs: blobs, w: keytest.NewWorld(t), em: &recorder{}}
	vars := f.w.Env()
	if env != nil {
		for k, v := range env(f.w) {
			vars[k] = v
		}
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	core, err := Build(func(k string) string { return vars[k] }, Deps{Store: st, Blobs: blobs, Emitter: f.em, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	f.h = fnhttp.New(fnhttp.Config{Function: "key-action"}, contract.Caliopen(), core, log)
	if f.user, err = st.CreateUser(ctx, store.User{Name: "bob", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// send posts an order on keyAction and returns the status and code.
func (f *fixture) send(payload any) (int, string) {
	body, _ := json.Marshal(payload)
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Nats-Subject", contract.SubjectKeyAction)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("Nats-Service-Error-Code")
}

func (f *fixture) discover(contactID string) (int, string) {
	return f.send(contract.ContactOrder{Order: contract.OrderDiscoverKey, ContactID: contactID, UserID: f.user.ID})
}

// receive stores a received message from addr whose raw form carries
// headers.
func (f *fixture) receive(addr string, date time.Time, headers ...string) {
	f.t.Helper()
	ctx := context.Background()
	raw := []byte("From: <" + addr + ">\r\nTo: bob@caliopen.local\r\nDate: " + date.Format(time.RFC1123Z) + "\r\n" +
		strings.Join(headers, "\r\n") + "\r\nSubject: hi\r\n\r\nbody\r\n")
	id := store.RawID(raw)
	if err := f.blobs.Put(ctx, store.RawKey(id), bytes.NewReader(raw), int64(len(raw))); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.st.PutRaw(ctx, store.RawMessage{ID: id, BlobKey: store.RawKey(id), Size: int64(len(raw))}); err != nil {
		f.t.Fatal(err)
	}
	if _, _, err := f.st.PutInbound(ctx, store.Message{UserID: f.user.ID, Protocol: store.ProtocolEmail, IsReceived: true,
		Date: date, RawMsgID: id, External: store.ExternalRefs{MessageID: id},
		Participants: []store.Participant{{Type: "From", Address: addr}, {Type: "To", Address: "bob@caliopen.local"}}}); err != nil {
		f.t.Fatal(err)
	}
}

func autocrypt(addr string, k keytest.Key) string {
	b := base64.StdEncoding.EncodeToString(k.Bin)
	var sb strings.Builder
	sb.WriteString("Autocrypt: addr=" + addr + "; prefer-encrypt=mutual; keydata=")
	for i := 0; i < len(b); i += 72 {
		sb.WriteString("\r\n " + b[i:min(i+72, len(b))])
	}
	return sb.String()
}

func TestDiscoverKey(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	wkd, dane, hkp := keytest.KeyFor(t, "ann@a.test"), keytest.KeyFor(t, "ann@b.test"), keytest.KeyFor(t, "ann@c.test")
	f.w.WKD("ann@a.test", wkd.Bin, true)
	f.w.DNS.OpenPGPKey("ann@b.test", dane.Bin)
	f.w.DNS.SetSigned("b.test.")
	f.w.HKP.Add("ann@c.test", hkp)
	old, newer := keytest.KeyFor(t, "ann@d.test"), keytest.KeyFor(t, "ann@d.test")
	now := time.Now().UTC().Truncate(time.Second)
	f.receive("ann@d.test", now.Add(-2*time.Hour), autocrypt("ann@d.test", old))
	f.receive("ann@d.test", now.Add(-time.Hour), autocrypt("ann@d.test", newer))
	f.receive("ann@d.test", now.Add(-30*time.Minute)) // no header: the key stays
	wrong := keytest.KeyFor(t, "mallory@a.test")
	f.w.WKD("ann@e.test", wrong.Bin, true)

	c, err := f.st.CreateContact(ctx, store.Contact{UserID: f.user.ID, Title: "Ann", Emails: []store.ContactEmail{
		{Address: "ann@a.test"}, {Address: "ann@b.test"}, {Address: "ann@c.test"}, {Address: "ann@d.test"},
		{Address: "ann@e.test"}, {Address: "ANN@a.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	if status, code := f.discover(c.ID); status != http.StatusOK {
		t.Fatalf("discover_key = %d %s", status, code)
	}
	keys, err := f.st.ListPublicKeys(ctx, f.user.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.PublicKey{}
	for _, k := range keys {
		got[k.Fingerprint] = k
	}
	for fpr, source := range map[string]string{wkd.Fpr: store.KeySourceWKD, dane.Fpr: store.KeySourceDANE,
		hkp.Fpr: store.KeySourceHKP, newer.Fpr: store.KeySourceAutocrypt} {
		k, ok := got[fpr]
		if !ok || k.Source != source || k.Armored == "" || k.Algorithm != "eddsa" {
			t.Errorf("key %s from %s: %+v", fpr, source, k)
		}
	}
	if len(keys) != 4 {
		t.Errorf("stored %d keys, want 4 (not the old Autocrypt key, not mallory's)", len(keys))
	}
	if !got[dane.Fpr].Authenticated {
		t.Error("DANE key with an AD answer not recorded as authenticated")
	}
	if len(f.em.orders) != 1 || f.em.orders[0].ContactID != c.ID || f.em.orders[0].Order != contract.OrderContactUpdate {
		t.Errorf("published %+v, want one contact_update", f.em.orders)
	}

	// Again: nothing new, the keys stay as they are.
	if status, _ := f.discover(c.ID); status != http.StatusOK {
		t.Fatal(status)
	}
	again, _ := f.st.ListPublicKeys(ctx, f.user.ID, c.ID)
	if len(again) != 4 || !again[0].UpdatedAt.Equal(keys[0].UpdatedAt) {
		t.Errorf("a second discover_key changed the keys: %d", len(again))
	}
}

func TestDiscoverKeyUnknown(t *testing.T) {
	f := newFixture(t, nil)
	if status, code := f.discover("nope"); status/100 != 4 || status == http.StatusNotFound || code != "unknown_contact" {
		t.Errorf("unknown contact: %d %s", status, code)
	}
	if status, code := f.send(contract.ContactOrder{Order: contract.OrderDiscoverKey, ContactID: "c", UserID: "nobody"}); status/100 != 4 ||
		code != "unknown_user" {
		t.Errorf("unknown user: %d %s", status, code)
	}
}

func TestPublishAndDeleteKey(t *testing.T) {
	f := newFixture(t, func(w *keytest.World) map[string]string { return map[string]string{EnvHKPUpload: w.HKPURL} })
	ctx := context.Background()
	bob := keydiscovery.WKDHash("bob")
	self, err := f.st.CreateContact(ctx, store.Contact{UserID: f.user.ID, Title: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	f.user.ContactID = self.ID
	if f.user, err = f.st.UpdateUser(ctx, f.user); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateIdentity(ctx, store.Identity{UserID: f.user.ID, Type: store.LocalIdentity,
		Protocol: store.ProtocolEmail, Identifier: "Bob@Caliopen.local"}); err != nil {
		t.Fatal(err)
	}
	mine := keytest.KeyFor(t, "bob@caliopen.local")
	k, err := f.st.UpsertPublicKey(ctx, store.PublicKey{UserID: f.user.ID, ContactID: self.ID, Fingerprint: mine.Fpr,
		Armored: mine.Armored, Emails: []string{"bob@caliopen.local", "bob@elsewhere.test"}})
	if err != nil {
		t.Fatal(err)
	}
	order := func(name string, id, contactID string) contract.KeyOrder {
		return contract.KeyOrder{KeyID: id, Order: name, ResourceID: contactID, UserID: f.user.ID}
	}
	if status, code := f.send(order(contract.OrderPublishKey, k.ID, self.ID)); status != http.StatusOK {
		t.Fatalf("publish_key = %d %s", status, code)
	}
	hosted, err := f.st.LookupWKD(ctx, "caliopen.local", bob)
	if err != nil || len(hosted) != 1 || !bytes.Equal(hosted[0].Data, mine.Bin) {
		t.Fatalf("hosted WKD after publish_key: %d keys, %v", len(hosted), err)
	}
	if ups := f.w.HKP.Uploads(); len(ups) != 1 || !strings.Contains(string(ups[0]), "BEGIN PGP PUBLIC KEY BLOCK") {
		t.Errorf("keyserver uploads: %d", len(ups))
	}
	// Publishing twice keeps one copy.
	if status, _ := f.send(order(contract.OrderPublishKey, k.ID, self.ID)); status != http.StatusOK {
		t.Fatal(status)
	}
	if hosted, _ := f.st.LookupWKD(ctx, "caliopen.local", bob); len(hosted) != 1 {
		t.Errorf("after a second publish_key: %d copies", len(hosted))
	}

	// Someone else's key is acknowledged, not published.
	other, _ := f.st.CreateContact(ctx, store.Contact{UserID: f.user.ID, Title: "Zoé"})
	zk := keytest.KeyFor(t, "bob@caliopen.local") // even with the user's address in it
	zoe, err := f.st.UpsertPublicKey(ctx, store.PublicKey{UserID: f.user.ID, ContactID: other.ID, Fingerprint: zk.Fpr,
		Armored: zk.Armored, Emails: []string{"bob@caliopen.local"}})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := f.send(order(contract.OrderPublishKey, zoe.ID, other.ID)); status != http.StatusOK {
		t.Errorf("publish_key of a contact's key = %d, want acknowledged", status)
	}
	if hosted, _ := f.st.LookupWKD(ctx, "caliopen.local", bob); len(hosted) != 1 {
		t.Errorf("a contact's key was published: %d keys hosted", len(hosted))
	}

	if status, code := f.send(order(contract.OrderDeleteKey, k.ID, self.ID)); status != http.StatusOK {
		t.Fatalf("delete_key = %d %s", status, code)
	}
	if hosted, _ := f.st.LookupWKD(ctx, "caliopen.local", bob); len(hosted) != 0 {
		t.Errorf("after delete_key: %d keys hosted", len(hosted))
	}
	if status, _ := f.send(order(contract.OrderDeleteKey, k.ID, self.ID)); status != http.StatusOK {
		t.Errorf("delete_key twice = %d", status)
	}
	if status, _ := f.send(order(contract.OrderPublishKey, "gone", self.ID)); status != http.StatusOK {
		t.Errorf("publish_key of a deleted key = %d, want acknowledged", status)
	}

	// A contact holding one of the user's local addresses is the user's own.
	me, _ := f.st.CreateContact(ctx, store.Contact{UserID: f.user.ID, Title: "me",
		Emails: []store.ContactEmail{{Address: "BOB@caliopen.local"}}})
	mk := keytest.KeyFor(t, "bob@caliopen.local")
	k2, err := f.st.UpsertPublicKey(ctx, store.PublicKey{UserID: f.user.ID, ContactID: me.ID, Fingerprint: mk.Fpr,
		Armored: mk.Armored, Emails: []string{"bob@caliopen.local"}})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := f.send(order(contract.OrderPublishKey, k2.ID, me.ID)); status != http.StatusOK {
		t.Fatal(status)
	}
	if hosted, _ := f.st.LookupWKD(ctx, "caliopen.local", bob); len(hosted) != 1 || hosted[0].KeyID != k2.ID {
		t.Errorf("key of the contact with the user's address: %d keys hosted", len(hosted))
	}
}
