package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

func testDrafts(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "w")
	d := try(s.CreateDraft(c, store.Message{UserID: u.ID, IdentityIDs: []string{"i1"}, Protocol: store.ProtocolEmail,
		Subject: "draft", BodyPlain: "v1", Participants: []store.Participant{{Type: "To", Address: "x@y.example"}},
		External: store.ExternalRefs{MessageID: "ignored@x"}})).ok(t)
	if !d.IsDraft || d.SendState != store.SendDraft || d.External.MessageID != "" || d.IsReceived {
		t.Errorf("CreateDraft = %+v, want a draft without Message-ID", d)
	}
	if again := try(s.CreateDraft(c, store.Message{ID: d.ID, UserID: u.ID, BodyPlain: "other"})).ok(t); again.BodyPlain != "v1" {
		t.Errorf("repeated CreateDraft = %q, want the stored draft", again.BodyPlain)
	}
	d.BodyPlain, d.Subject = "v2", "draft 2"
	d.External.InReplyTo, d.External.References = "parent@x", []string{"root@x", "parent@x"}
	up := try(s.UpdateDraft(c, d)).ok(t)
	if up.BodyPlain != "v2" || up.Subject != "draft 2" || up.External.InReplyTo != "parent@x" || len(up.External.References) != 2 {
		t.Errorf("UpdateDraft = %+v", up)
	}
	if drafts, _ := page(s.ListMessages(c, u.ID, store.MessageFilter{IsDraft: ptr(true)}, store.Page{})).ok(t); len(drafts) != 1 {
		t.Errorf("drafts listed = %d, want 1", len(drafts))
	}

	sending := try(s.BeginSend(c, u.ID, d.ID, time.Hour, store.SendAttempt{})).ok(t)
	if sending.SendState != store.SendSending || sending.SendStarted.IsZero() {
		t.Errorf("BeginSend = %q started %v", sending.SendState, sending.SendStarted)
	}
	_, err := s.BeginSend(c, u.ID, d.ID, time.Hour, store.SendAttempt{})
	wantErr(t, "second BeginSend under a running lease", err, store.ErrConflict)
	_, err = s.UpdateDraft(c, d)
	wantErr(t, "UpdateDraft while sending", err, store.ErrConflict)

	raw := try(s.PutRaw(c, store.RawMessage{BlobKey: "sent/1", Size: 10, Delivered: true})).ok(t)
	sent := try(s.MarkSent(c, u.ID, d.ID, store.SentInfo{MessageID: "sent-1@caliopen.local", RawMsgID: raw.ID, Date: at(0)})).ok(t)
	if sent.IsDraft || sent.SendState != store.SendSent || sent.External.MessageID != "sent-1@caliopen.local" ||
		sent.RawMsgID != raw.ID || !sent.Date.Equal(at(0)) || !sent.DateSort.Equal(at(0)) {
		t.Errorf("MarkSent = %+v", sent)
	}
	if again := try(s.MarkSent(c, u.ID, d.ID, store.SentInfo{MessageID: "sent-1@caliopen.local", Date: at(time.Hour)})).ok(t); !again.Date.Equal(at(0)) {
		t.Errorf("repeated MarkSent changed the message: %+v", again)
	}
	_, err = s.MarkSent(c, u.ID, d.ID, store.SentInfo{MessageID: "other@x"})
	wantErr(t, "MarkSent with another Message-ID", err, store.ErrConflict)
	_, err = s.BeginSend(c, u.ID, d.ID, 0, store.SendAttempt{})
	wantErr(t, "BeginSend of a sent message", err, store.ErrConflict)
	wantErr(t, "MarkSendFailed of a sent message", s.MarkSendFailed(c, u.ID, d.ID, "x"), store.ErrConflict)
	_, err = s.UpdateDraft(c, sent)
	wantErr(t, "UpdateDraft of a sent message", err, store.ErrConflict)
	if _, dup := put(s.PutInbound(c, store.Message{UserID: u.ID, External: store.ExternalRefs{MessageID: "sent-1@caliopen.local"}})).ok(t); !dup {
		t.Error("the sent copy coming back in was not deduplicated against the sent message")
	}

	_, err = s.BeginSend(c, u.ID, "nope", time.Hour, store.SendAttempt{})
	wantErr(t, "BeginSend unknown", err, store.ErrNotFound)
	_, err = s.UpdateDraft(c, store.Message{UserID: u.ID, ID: "nope"})
	wantErr(t, "UpdateDraft unknown", err, store.ErrNotFound)
	in, _ := put(s.PutInbound(c, inbound(u, "i", "in@x", 0))).ok(t)
	_, err = s.BeginSend(c, u.ID, in.ID, time.Hour, store.SendAttempt{})
	wantErr(t, "BeginSend of a received message", err, store.ErrConflict)
}

func testDraftLease(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "f")
	d := try(s.CreateDraft(c, store.Message{UserID: u.ID, BodyPlain: "x"})).ok(t)
	try(s.BeginSend(c, u.ID, d.ID, time.Hour, store.SendAttempt{})).ok(t)
	noErr(t, s.MarkSendFailed(c, u.ID, d.ID, "smtp 451"))
	noErr(t, s.MarkSendFailed(c, u.ID, d.ID, "smtp 451"))
	failed := try(s.GetMessage(c, u.ID, d.ID)).ok(t)
	if failed.SendState != store.SendFailed || failed.SendError != "smtp 451" || !failed.IsDraft {
		t.Errorf("after MarkSendFailed: %+v", failed)
	}
	retry := try(s.BeginSend(c, u.ID, d.ID, time.Hour, store.SendAttempt{})).ok(t)
	if retry.SendState != store.SendSending || retry.SendError != "" {
		t.Errorf("BeginSend of a failed draft = %+v", retry)
	}
	// The sender died: once the lease has run out, another may take over.
	takeover := try(s.BeginSend(c, u.ID, d.ID, 0, store.SendAttempt{})).ok(t)
	if takeover.SendState != store.SendSending || takeover.SendStarted.Before(retry.SendStarted) {
		t.Errorf("takeover after the lease = %+v", takeover)
	}
	noErr(t, s.MarkSendFailed(c, u.ID, d.ID, "smtp 550"))
	edited := failed
	edited.BodyPlain = "fixed"
	if up := try(s.UpdateDraft(c, edited)).ok(t); up.SendState != store.SendDraft || up.SendError != "" || up.BodyPlain != "fixed" {
		t.Errorf("UpdateDraft of a failed draft = %+v, want a plain draft again", up)
	}
	wantErr(t, "MarkSendFailed of a plain draft", s.MarkSendFailed(c, u.ID, d.ID, "x"), store.ErrConflict)
	_, err := s.MarkSent(c, u.ID, d.ID, store.SentInfo{MessageID: "x@y"})
	wantErr(t, "MarkSent of a draft never begun", err, store.ErrConflict)
}

// testAttempt: the attempt BeginSend records is kept by a takeover (the
// taking sender sees the dead one's), kept by MarkSent and forgotten by
// MarkSendFailed.
func testAttempt(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "h")
	d := try(s.CreateDraft(c, store.Message{UserID: u.ID, BodyPlain: "x"})).ok(t)
	if _, ok := store.Attempted(d); ok {
		t.Fatal("a new draft has a send attempt")
	}
	first := store.SendAttempt{RawMsgID: "raw-1", Date: at(time.Minute)}
	m := try(s.BeginSend(c, u.ID, d.ID, time.Hour, first)).ok(t)
	if got, ok := store.Attempted(m); !ok || got != first {
		t.Fatalf("Attempted after BeginSend = %+v, %v; want %+v", got, ok, first)
	}
	// The sender died: the next one, after the lease, sees its attempt.
	second := store.SendAttempt{RawMsgID: "raw-2", Date: at(2 * time.Minute)}
	taken := try(s.BeginSend(c, u.ID, d.ID, 0, second)).ok(t)
	if got, ok := store.Attempted(taken); !ok || got != first {
		t.Fatalf("Attempted after takeover = %+v, %v; want the first attempt %+v", got, ok, first)
	}
	// Nothing went out: the attempt is forgotten with the failure.
	noErr(t, s.MarkSendFailed(c, u.ID, d.ID, "smtp 550"))
	if _, ok := store.Attempted(try(s.GetMessage(c, u.ID, d.ID)).ok(t)); ok {
		t.Error("a failed draft still has a send attempt")
	}
	m = try(s.BeginSend(c, u.ID, d.ID, time.Hour, second)).ok(t)
	if got, _ := store.Attempted(m); got != second {
		t.Errorf("Attempted after a failure and a new BeginSend = %+v, want %+v", got, second)
	}
	sent := try(s.MarkSent(c, u.ID, d.ID, store.SentInfo{MessageID: "h1@x", RawMsgID: second.RawMsgID, Date: second.Date,
		Raw: &store.RawMessage{ID: second.RawMsgID, BlobKey: "sent/raw-2.eml", Size: 1}})).ok(t)
	if sent.External.MessageID != "h1@x" || sent.RawMsgID != second.RawMsgID || sent.IsDraft {
		t.Errorf("sent = %+v", sent)
	}
	if _, ok := store.Attempted(sent); ok {
		t.Error("a sent message has a send attempt")
	}
}

// testSentCopyRecord: the sent copy's record travels with MarkSent, in its
// transaction, and is checked.
func testSentCopyRecord(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "sc")
	newSending := func() store.Message {
		d := try(s.CreateDraft(c, store.Message{UserID: u.ID, BodyPlain: "x"})).ok(t)
		return try(s.BeginSend(c, u.ID, d.ID, time.Hour, store.SendAttempt{})).ok(t)
	}
	d := newSending()
	rec := &store.RawMessage{ID: "sent-copy-2", BlobKey: "sent/sent-copy-2.eml", Size: 7, Delivered: true}
	sent := try(s.MarkSent(c, u.ID, d.ID, store.SentInfo{MessageID: "c2@x", Raw: rec})).ok(t)
	if sent.RawMsgID != "sent-copy-2" {
		t.Errorf("sent.RawMsgID = %q", sent.RawMsgID)
	}
	raw := try(s.GetRaw(c, "sent-copy-2")).ok(t)
	if raw.BlobKey != rec.BlobKey || raw.Size != 7 || !raw.Delivered {
		t.Errorf("record written with MarkSent = %+v", raw)
	}
	// A record that contradicts RawMsgID, or lacks its blob, is refused and
	// the draft is left as it was.
	d = newSending()
	bad := store.SentInfo{MessageID: "c3@x", RawMsgID: "other", Raw: &store.RawMessage{ID: "sent-copy-3", BlobKey: "k", Size: 1}}
	_, err := s.MarkSent(c, u.ID, d.ID, bad)
	wantErr(t, "MarkSent with a contradicting record", err, store.ErrInvalid)
	bad = store.SentInfo{MessageID: "c3@x", Raw: &store.RawMessage{ID: "sent-copy-3", Size: 1}}
	_, err = s.MarkSent(c, u.ID, d.ID, bad)
	wantErr(t, "MarkSent with a record without blob key", err, store.ErrInvalid)
	if _, err := s.GetRaw(c, "sent-copy-3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused record was written: %v", err)
	}
	if got := try(s.GetMessage(c, u.ID, d.ID)).ok(t); got.SendState != store.SendSending || !got.IsDraft {
		t.Errorf("after refusals the draft is %q (draft %v)", got.SendState, got.IsDraft)
	}
}
