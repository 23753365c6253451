package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// order returns an order on subject with payload data.
func order(subject, data string) store.Order {
	return store.Order{Subject: subject, Data: []byte(data), Header: map[string]string{"Caliopen-Correlation-Id": "c-" + data}}
}

// testOutbox: orders commit with their change or not at all, are claimed
// in commit order, leased, and leave once sent.
func testOutbox(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "olga")
	before := time.Now()
	ct := try(s.CreateContact(c, store.Contact{UserID: u.ID, Title: "Carol"}, order("contactAction", `{"n":1}`))).ok(t)
	ct.Title = "Caroline"
	try(s.UpdateContact(c, ct, order("contactAction", `{"n":2}`))).ok(t)
	id := remote(t, s, u, "olga@example.org")
	try(s.UpdateIdentity(c, id, order("identitiesWorker", `{"n":3}`))).ok(t)
	noErr(t, s.EnqueueOrders(c, order("keyAction", `{"n":4}`)))
	key := try(s.UpsertPublicKey(c, store.PublicKey{UserID: u.ID, ContactID: ct.ID, Fingerprint: "AB12", Armored: "k"},
		func(k store.PublicKey) store.Order { return order("keyAction", `{"key":"`+k.ID+`"}`) })).ok(t)
	noErr(t, s.DeletePublicKey(c, u.ID, key.ID, order("keyAction", `{"n":6}`)))
	noErr(t, s.DeleteIdentity(c, u.ID, id.ID, order("identitiesWorker", `{"n":7}`)))
	try(s.CreateIdentity(c, store.Identity{UserID: u.ID, Type: store.RemoteIdentity, Protocol: store.ProtocolEmail,
		Identifier: "o2@example.org", PollInterval: time.Minute}, order("identitiesWorker", `{"n":8}`))).ok(t)

	// A write that fails stores none of its orders.
	_, err := s.UpdateContact(c, store.Contact{ID: "missing", UserID: u.ID, Title: "x"}, order("contactAction", `{"lost":1}`))
	wantErr(t, "UpdateContact of a missing contact", err, store.ErrNotFound)
	wantErr(t, "DeleteIdentity of a missing identity",
		s.DeleteIdentity(c, u.ID, "missing", order("identitiesWorker", `{"lost":2}`)), store.ErrNotFound)
	_, err = s.CreateContact(c, store.Contact{UserID: u.ID, Title: "x"}, store.Order{Subject: "contactAction"})
	wantErr(t, "an order without payload", err, store.ErrInvalid)
	// A repeated create stores no second order.
	try(s.CreateContact(c, store.Contact{ID: ct.ID, UserID: u.ID, Title: "Carol"}, order("contactAction", `{"lost":3}`))).ok(t)

	if n := try(s.PendingOrders(c)).ok(t); n != 8 {
		t.Fatalf("PendingOrders = %d, want 8", n)
	}
	if got := try(s.ClaimOrders(c, before.Add(-time.Second), time.Minute, 10)).ok(t); len(got) != 0 {
		t.Errorf("claimed %d orders written after writtenBefore", len(got))
	}
	got := try(s.ClaimOrders(c, time.Now().Add(time.Second), time.Minute, 5)).ok(t)
	want := []string{`{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`, `{"key":"` + key.ID + `"}`}
	if len(got) != len(want) {
		t.Fatalf("claimed %d orders, want %d", len(got), len(want))
	}
	for i, o := range got {
		if string(o.Data) != want[i] || o.ID == "" || o.Attempts != 1 || o.CreatedAt.IsZero() ||
			o.Header["Caliopen-Correlation-Id"] != "c-"+want[i] {
			t.Errorf("claimed order %d = %+v (data %s), want %s, claimed once", i, o, o.Data, want[i])
		}
	}
	rest := try(s.ClaimOrders(c, time.Now().Add(time.Second), time.Minute, 10)).ok(t)
	if len(rest) != 3 || string(rest[0].Data) != `{"n":6}` {
		t.Fatalf("second claim = %d orders, want the 3 not leased", len(rest))
	}
	if again := try(s.ClaimOrders(c, time.Now().Add(time.Second), time.Minute, 10)).ok(t); len(again) != 0 {
		t.Errorf("leased orders claimed again: %d", len(again))
	}
	ids := make([]string, len(got))
	for i, o := range got {
		ids[i] = o.ID
	}
	noErr(t, s.OrdersSent(c, ids...))
	if n := try(s.PendingOrders(c)).ok(t); n != 3 {
		t.Errorf("PendingOrders after sending 5 = %d, want 3", n)
	}
	// A relay that died holding orders: its lease ends, another claims them.
	noErr(t, s.EnqueueOrders(c, order("keyAction", `{"n":9}`)))
	short := try(s.ClaimOrders(c, time.Now().Add(time.Second), time.Millisecond, 10)).ok(t)
	if len(short) != 1 || string(short[0].Data) != `{"n":9}` {
		t.Fatalf("claimed %d orders, want the one not leased", len(short))
	}
	time.Sleep(5 * time.Millisecond)
	again := try(s.ClaimOrders(c, time.Now().Add(time.Second), time.Minute, 10)).ok(t)
	if len(again) != 1 || again[0].ID != short[0].ID || again[0].Attempts != 2 {
		t.Errorf("after the lease: claimed %+v, want order 9 on its second attempt", again)
	}
}

// testOutboxLeases: relays claiming side by side never take the same row.
func testOutboxLeases(t *testing.T, s *store.SQL) {
	c := ctx(t)
	const n = 60
	for i := range n {
		noErr(t, s.EnqueueOrders(c, order("keyAction", string(rune('a'+i%26))+"x")))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				got, err := s.ClaimOrders(c, time.Now().Add(time.Second), time.Minute, 7)
				if err != nil {
					t.Errorf("ClaimOrders: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, o := range got {
					seen[o.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct orders, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("order %s claimed %d times", id, k)
		}
	}
}
