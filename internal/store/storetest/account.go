package storetest

import (
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// testAccountState covers what the direct message bridge keeps on a remote
// account: its rate-limit window, infos it learnt, and the discussion a
// sent message joins.
func testAccountState(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "tina")
	id := try(s.CreateIdentity(c, store.Identity{UserID: u.ID, Type: store.RemoteIdentity, Protocol: store.ProtocolTwitter,
		Identifier: "tina", Infos: map[string]string{"authtype": "oauth2", "provider": "twitter"}})).ok(t)
	until := time.Date(2026, 3, 1, 12, 15, 0, 0, time.UTC)
	noErr(t, s.SetThrottle(c, u.ID, id.ID, until))
	if got := try(s.GetIdentity(c, u.ID, id.ID)).ok(t); !got.Sync.ThrottledUntil.Equal(until) {
		t.Errorf("throttled until %v, want %v", got.Sync.ThrottledUntil, until)
	}
	noErr(t, s.SetThrottle(c, u.ID, id.ID, time.Time{}))
	if got := try(s.GetIdentity(c, u.ID, id.ID)).ok(t); !got.Sync.ThrottledUntil.IsZero() {
		t.Errorf("cleared throttle is %v", got.Sync.ThrottledUntil)
	}
	noErr(t, s.SetIdentityInfos(c, u.ID, id.ID, map[string]string{"twitterid": "100", "screen_name": "Tina", "provider": ""}))
	got := try(s.GetIdentity(c, u.ID, id.ID)).ok(t)
	if got.Infos["twitterid"] != "100" || got.Infos["screen_name"] != "Tina" || got.Infos["authtype"] != "oauth2" ||
		got.Infos["provider"] != "" {
		t.Errorf("infos %v", got.Infos)
	}
	if err := s.SetIdentityInfos(c, u.ID, "nope", map[string]string{"a": "b"}); err == nil {
		t.Error("infos of an unknown identity set")
	}

	disc := try(s.EnsureDiscussion(c, u.ID, "twitter:100-200", "")).ok(t)
	d := try(s.CreateDraft(c, store.Message{UserID: u.ID, IdentityIDs: []string{id.ID}, Protocol: store.ProtocolTwitter,
		BodyPlain: "hi"})).ok(t)
	try(s.BeginSend(c, u.ID, d.ID, time.Hour, store.SendAttempt{RawMsgID: "r-tina"})).ok(t)
	sent := try(s.MarkSent(c, u.ID, d.ID, store.SentInfo{MessageID: "1700", RawMsgID: "r-tina", DiscussionID: disc.ID,
		Raw: &store.RawMessage{ID: "r-tina", BlobKey: "sent/r-tina.json", Size: 10, Delivered: true}})).ok(t)
	if sent.DiscussionID != disc.ID || sent.External.MessageID != "1700" || sent.IsDraft {
		t.Errorf("sent %+v", sent)
	}
	if dd := try(s.GetDiscussion(c, u.ID, disc.ID)).ok(t); dd.Total != 1 {
		t.Errorf("discussion has %d messages, want 1", dd.Total)
	}
}
