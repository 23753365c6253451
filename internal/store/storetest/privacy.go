package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

func testContactPrivacy(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "p")
	ct := try(s.CreateContact(c, store.Contact{UserID: u.ID, Title: "Zoé",
		Emails: []store.ContactEmail{{Address: "Zo_e@Example.org"}}})).ok(t)
	msg := func(id string, d time.Duration, received bool, parts ...store.Participant) {
		m := inbound(u, "i", id, d)
		m.IsReceived, m.Participants, m.RawMsgID = received, parts, ""
		put(s.PutInbound(c, m)).ok(t)
	}
	from := func(a string) store.Participant { return store.Participant{Type: "From", Address: a} }
	to := func(a string) store.Participant { return store.Participant{Type: "To", Address: a} }
	msg("m1", 0, true, from("zo_e@example.org"), to("me@x"))
	msg("m2", time.Hour, false, from("me@x"), to("ZO_E@EXAMPLE.ORG"), store.Participant{Type: "Cc", Address: "zo_e@example.org"})
	msg("m3", 2*time.Hour, true, from("zoXe@example.org"), to("me@x")) // '_' is no wildcard
	msg("m4", 3*time.Hour, true, from("other@example.org"), to("zo_e@example.org"))
	got := try(s.AddressExchanges(c, u.ID, []string{"zo_e@example.org", "ZO_E@example.org", "bob@b"}, 10)).ok(t)
	var desc []string
	for _, e := range got {
		desc = append(desc, fmt.Sprintf("%s:%s:r=%v:f=%v", e.MessageID[:0]+e.Address, e.At.Sub(at(0)), e.Received, e.From))
	}
	want := "[zo_e@example.org:2h59m0s:r=true:f=false zo_e@example.org:59m0s:r=false:f=false zo_e@example.org:-1m0s:r=true:f=true]"
	if fmt.Sprint(desc) != want {
		t.Errorf("AddressExchanges =\n %v\nwant\n %v", desc, want)
	}
	if got := try(s.AddressExchanges(c, u.ID, []string{"zo_e@example.org"}, 1)).ok(t); len(got) != 1 {
		t.Errorf("AddressExchanges with limit 1 = %d exchanges", len(got))
	}
	if got := try(s.AddressExchanges(c, user(t, s, "p2").ID, []string{"zo_e@example.org"}, 10)).ok(t); len(got) != 0 {
		t.Errorf("AddressExchanges of another user = %d exchanges", len(got))
	}

	pi := store.PrivacyIndex{Technic: 30, Comportment: 5, Context: 10, DateUpdate: at(0)}
	features := map[string]string{"message_day_total": "3", "public_key_best_size": "4096"}
	noErr(t, s.SetContactPrivacy(c, u.ID, ct.ID, pi, features))
	back := try(s.GetContact(c, u.ID, ct.ID)).ok(t)
	if back.PI != pi || fmt.Sprint(back.PrivacyFeatures) != fmt.Sprint(features) {
		t.Errorf("after SetContactPrivacy: pi %+v features %v", back.PI, back.PrivacyFeatures)
	}
	back.Title = "Zoé Z."
	up := try(s.UpdateContact(c, back)).ok(t)
	if fmt.Sprint(up.PrivacyFeatures) != fmt.Sprint(features) {
		t.Errorf("UpdateContact lost the privacy features: %v", up.PrivacyFeatures)
	}
	wantErr(t, "SetContactPrivacy of an unknown contact", s.SetContactPrivacy(c, u.ID, "nope", pi, nil), store.ErrNotFound)
}

func testHostedWKD(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "w")
	k := store.WKDKey{Domain: "Example.ORG", LocalHash: "iy9q119eutrkn8s1mk4r39qejnbu3n5q", KeyID: "k1", UserID: u.ID,
		Address: "Joe.Doe@Example.ORG", Fingerprint: "AB", Data: []byte{0x99, 1, 2}}
	k2 := k
	k2.KeyID, k2.Data = "k2", []byte{0x99, 3}
	noErr(t, s.PublishWKD(c, []store.WKDKey{k, k2}))
	noErr(t, s.PublishWKD(c, []store.WKDKey{k})) // again: one copy
	got := try(s.LookupWKD(c, "example.org", k.LocalHash)).ok(t)
	if len(got) != 2 || got[0].Address != "joe.doe@example.org" || !bytes.Equal(got[0].Data, k.Data) && !bytes.Equal(got[1].Data, k.Data) {
		t.Fatalf("LookupWKD = %+v", got)
	}
	if n := try(s.WithdrawWKD(c, u.ID, "k1")).ok(t); n != 1 {
		t.Errorf("WithdrawWKD = %d, want 1", n)
	}
	if n := try(s.WithdrawWKD(c, u.ID, "k1")).ok(t); n != 0 {
		t.Errorf("WithdrawWKD twice = %d, want 0", n)
	}
	if got := try(s.LookupWKD(c, "example.org", k.LocalHash)).ok(t); len(got) != 1 || got[0].KeyID != "k2" {
		t.Errorf("LookupWKD after withdraw = %+v", got)
	}
	wantErr(t, "PublishWKD without data", s.PublishWKD(c, []store.WKDKey{{Domain: "d", LocalHash: "h", KeyID: "k", UserID: u.ID}}), store.ErrInvalid)
}
