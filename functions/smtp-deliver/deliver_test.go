package smtpdeliver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/outbound/outboundtest"
	"github.com/caliopen/functions/internal/store"
)

func TestDeliverOnceThroughRelay(t *testing.T) {
	f := outboundtest.StartFakeSMTP(t)
	h := newHarness(t, testConfig(f.Addr))
	m := h.draft(h.alice, "ext@example.org", "Cc:cc@example.net", "Bcc:hidden@example.com")
	a := h.deliver(h.alice.UserID, m.ID)
	h.ok(a)
	if a.reply.Message != "message "+m.ID+" has been sent." {
		t.Errorf("reply message %q", a.reply.Message)
	}
	sent := h.message(h.alice.UserID, m.ID)
	h.checkSent(sent)
	got := f.Received()
	if len(got) != 1 || strings.Join(got[0].To, " ") != "ext@example.org cc@example.net hidden@example.com" {
		t.Fatalf("relay got %+v", got)
	}
	if strings.Contains(string(got[0].Data), "hidden@") {
		t.Error("Bcc in the message")
	}
	for i := 0; i < 3; i++ {
		h.ok(h.deliver(h.alice.UserID, m.ID))
	}
	if n := f.Attempts(); n != 1 {
		t.Errorf("%d hand-offs after repeated delivers, want 1", n)
	}
	if strings.Contains(h.logBuf.String(), "Hello there") {
		t.Error("a body was logged")
	}
}

// TestDeliverInterruptedHandoffIsNotSentTwice plays a crash between the
// hand-off and the mark, and a connection lost after the message was
// written: a retry under the lease is refused, one after it finishes the
// send without sending again.
func TestDeliverInterruptedHandoffIsNotSentTwice(t *testing.T) {
	for name, c := range map[string]struct {
		interrupt, resume func(h *harness, f *outboundtest.FakeSMTP)
		code              string
	}{
		"crash before the mark": {
			interrupt: func(h *harness, _ *outboundtest.FakeSMTP) {
				h.d.afterHandoff = func() error { return errors.New("crash before the mark") }
			},
			resume: func(h *harness, _ *outboundtest.FakeSMTP) { h.d.afterHandoff = nil },
			code:   "function_error",
		},
		"connection lost after the message": {
			interrupt: func(_ *harness, f *outboundtest.FakeSMTP) { f.HangUp(true) },
			resume:    func(_ *harness, f *outboundtest.FakeSMTP) { f.HangUp(false) },
			code:      "send_unconfirmed",
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := outboundtest.StartFakeSMTP(t)
			cfg := testConfig(f.Addr)
			cfg.SMTPTimeout, cfg.SendLease = time.Second, 1500*time.Millisecond
			h := newHarness(t, cfg)
			m := h.draft(h.alice, "ext@example.org")
			c.interrupt(h, f)
			if a := h.deliver(h.alice.UserID, m.ID); a.code != c.code || a.status != http.StatusServiceUnavailable {
				t.Fatalf("interrupted attempt: %+v, want %s (503)", a, c.code)
			}
			c.resume(h, f)
			if st := h.message(h.alice.UserID, m.ID).SendState; st != store.SendSending {
				t.Fatalf("after the interruption the draft is %q, want sending", st)
			}
			if a := h.deliver(h.alice.UserID, m.ID); a.code != "send_in_progress" {
				t.Errorf("retry under the lease: %+v, want send_in_progress", a)
			}
			time.Sleep(cfg.SendLease + 50*time.Millisecond)
			h.ok(h.deliver(h.alice.UserID, m.ID))
			h.checkSent(h.message(h.alice.UserID, m.ID))
			if n := f.Attempts(); n != 1 {
				t.Errorf("%d hand-offs, want 1", n)
			}
		})
	}
}

// TestDeliverTakesOverADeadAttempt plays a sender that died holding the
// draft, before storing its copy (so before any hand-off: the next attempt
// sends it, as the dead attempt) and after storing it (it may have handed
// the message off: the next attempt finishes the send without sending).
func TestDeliverTakesOverADeadAttempt(t *testing.T) {
	for name, c := range map[string]struct {
		copyStored bool
		handoffs   int
	}{
		"died before storing its copy": {copyStored: false, handoffs: 1},
		"died after storing its copy":  {copyStored: true, handoffs: 0},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := outboundtest.StartFakeSMTP(t)
			cfg := testConfig(f.Addr)
			cfg.SMTPTimeout, cfg.SendLease = 200*time.Millisecond, 300*time.Millisecond
			h := newHarness(t, cfg)
			m := h.draft(h.alice, "ext@example.org")
			dead := store.SendAttempt{RawMsgID: "dead-attempt", Date: time.Now().Add(-time.Minute).Truncate(time.Second)}
			if _, err := h.st.BeginSend(ctx, h.alice.UserID, m.ID, cfg.SendLease, dead); err != nil {
				t.Fatal(err)
			}
			const copyID = "dead-attempt-copy@caliopen.test"
			if c.copyStored {
				eml := "Message-ID: <" + copyID + ">\r\nSubject: x\r\n\r\nbody\r\n"
				if err := h.blobs.Put(ctx, copyKey(dead.RawMsgID), strings.NewReader(eml), int64(len(eml))); err != nil {
					t.Fatal(err)
				}
			}
			if a := h.deliver(h.alice.UserID, m.ID); a.code != "send_in_progress" {
				t.Errorf("deliver under the dead attempt's lease: %+v, want send_in_progress", a)
			}
			time.Sleep(cfg.SendLease + 50*time.Millisecond)
			h.ok(h.deliver(h.alice.UserID, m.ID))
			sent := h.message(h.alice.UserID, m.ID)
			h.checkSent(sent)
			if sent.RawMsgID != dead.RawMsgID || !sent.Date.Equal(dead.Date) {
				t.Errorf("sent as raw %q date %v, want the dead attempt's %q %v", sent.RawMsgID, sent.Date, dead.RawMsgID, dead.Date)
			}
			if c.copyStored && sent.External.MessageID != copyID {
				t.Errorf("Message-ID %q, want the stored copy's %q", sent.External.MessageID, copyID)
			}
			if n := f.Attempts(); n != c.handoffs {
				t.Errorf("%d hand-offs, want %d", n, c.handoffs)
			}
			h.ok(h.deliver(h.alice.UserID, m.ID))
			if n := f.Attempts(); n != c.handoffs {
				t.Errorf("%d hand-offs after a repeated deliver, want %d", n, c.handoffs)
			}
		})
	}
}

func TestDeliverRelayErrors(t *testing.T) {
	f := outboundtest.StartFakeSMTP(t)
	h := newHarness(t, testConfig(f.Addr))
	m := h.draft(h.alice, "ext@example.org")

	f.Fail("data", 451)
	a := h.deliver(h.alice.UserID, m.ID)
	if a.status != http.StatusServiceUnavailable || a.code != "relay_unavailable" || !a.reply.Error {
		t.Errorf("451: %+v, want 503 relay_unavailable", a)
	}
	if got := h.message(h.alice.UserID, m.ID); got.SendState != store.SendFailed || !got.IsDraft ||
		!strings.HasPrefix(got.SendError, "temporary") {
		t.Errorf("after 451: state %q draft %v error %q", got.SendState, got.IsDraft, got.SendError)
	}
	if n := h.sentCopies(); n != 0 {
		t.Errorf("%d sent copies after a refused send, want 0", n)
	}
	f.Fail("data", 0)
	f.Fail("rcpt", 550)
	a = h.deliver(h.alice.UserID, m.ID)
	if a.status != http.StatusUnprocessableEntity || a.code != "relay_rejected" || !strings.Contains(a.reply.Message, "550") {
		t.Errorf("550: %+v, want 422 relay_rejected with the server's answer", a)
	}
	if got := h.message(h.alice.UserID, m.ID); got.SendState != store.SendFailed || !strings.HasPrefix(got.SendError, "permanent") {
		t.Errorf("after 550: state %q error %q", got.SendState, got.SendError)
	}
	if n := h.sentCopies(); n != 0 {
		t.Errorf("%d sent copies after a refused send, want 0", n)
	}
	f.Fail("rcpt", 0)
	h.ok(h.deliver(h.alice.UserID, m.ID))
	if n := len(f.Received()); n != 1 {
		t.Errorf("%d messages accepted, want 1", n)
	}
	if n := h.sentCopies(); n != 1 {
		t.Errorf("%d sent copies after the send, want 1", n)
	}
	f2 := testConfig("127.0.0.1:1")
	h2 := newHarness(t, f2)
	m2 := h2.draft(h2.alice, "ext@example.org")
	if a := h2.deliver(h2.alice.UserID, m2.ID); a.code != "relay_unavailable" {
		t.Errorf("relay down: %+v", a)
	}
}

// TestDeliverHostedRecipientsNotAnswered: nothing serves inboundSMTP, so
// the hosted recipient cannot receive the mail. The send answers
// temporary local_delivery_failed and the draft stays sending with its
// attempt: the relay got the other recipient's copy once, the hosted
// recipients' raw message was stored once, and neither is repeated by the
// retry after the lease, which fails the same way. Without a relay, mail
// to another address fails with no_relay.
func TestDeliverHostedRecipientsNotAnswered(t *testing.T) {
	f := outboundtest.StartFakeSMTP(t)
	cfg := testConfig(f.Addr)
	cfg.SMTPTimeout, cfg.SendLease = time.Second, 1500*time.Millisecond
	h := newHarness(t, cfg)
	m := h.draft(h.alice, "bob@caliopen.test", "Cc:ext@example.org")
	for i := range 2 {
		if i > 0 {
			if a := h.deliver(h.alice.UserID, m.ID); a.code != "send_in_progress" {
				t.Errorf("retry under the lease: %+v, want send_in_progress", a)
			}
			time.Sleep(cfg.SendLease + 50*time.Millisecond)
		}
		a := h.deliver(h.alice.UserID, m.ID)
		if a.code != "local_delivery_failed" || a.status != http.StatusServiceUnavailable || !a.reply.Error {
			t.Fatalf("attempt %d: %+v, want 503 local_delivery_failed", i+1, a)
		}
		if got := h.message(h.alice.UserID, m.ID); got.SendState != store.SendSending || !got.IsDraft {
			t.Fatalf("attempt %d: draft %v state %q, want a draft still sending", i+1, got.IsDraft, got.SendState)
		}
	}
	got := f.Received()
	if len(got) != 1 || strings.Join(got[0].To, " ") != "ext@example.org" {
		t.Fatalf("relay got %+v, want one mail for ext@example.org only", got)
	}
	if n := h.blobCount("raw"); n != 1 {
		t.Errorf("%d raw messages stored for the hosted recipients, want 1", n)
	}
	if n := h.sentCopies(); n != 1 {
		t.Errorf("%d sent copies, want 1", n)
	}

	h2 := newHarness(t, testConfig(""))
	m3 := h2.draft(h2.alice, "ext@example.org")
	if a := h2.deliver(h2.alice.UserID, m3.ID); a.code != "no_relay" || a.status != http.StatusUnprocessableEntity {
		t.Errorf("no relay: %+v", a)
	}
}

// TestDeliverUnknownHostedRecipient: an address of the hosted domain that
// no user has does not exist; the send fails permanently with
// unknown_recipient, naming it, whether or not a relay is configured, and
// nothing goes out, not even to the other recipients.
func TestDeliverUnknownHostedRecipient(t *testing.T) {
	f := outboundtest.StartFakeSMTP(t)
	for _, relay := range []string{"", f.Addr} {
		cfg := testConfig(relay)
		cfg.HostedDomain = "caliopen.test"
		h := newHarness(t, cfg)
		for _, rcpts := range [][]string{{"nobody@caliopen.test"}, {"bob@caliopen.test", "Cc:ext@example.org", "Bcc:Nobody@Caliopen.Test"}} {
			m := h.draft(h.alice, rcpts...)
			a := h.deliver(h.alice.UserID, m.ID)
			if a.code != "unknown_recipient" || a.status != http.StatusUnprocessableEntity || !a.reply.Error ||
				!strings.Contains(a.reply.Message, "obody@") || !strings.Contains(a.reply.Message, "no user has the address") {
				t.Errorf("relay %q, %v: %+v, want unknown_recipient naming the address", relay, rcpts, a)
			}
			if got := h.message(h.alice.UserID, m.ID).SendState; got != store.SendFailed {
				t.Errorf("relay %q, %v: draft %q, want failed", relay, rcpts, got)
			}
		}
		inbox, _, err := h.st.ListMessages(context.Background(), h.bob.UserID, store.MessageFilter{}, store.Page{})
		if err != nil || len(inbox) != 0 {
			t.Errorf("bob's mailbox %d messages (%v), want none", len(inbox), err)
		}
	}
	if got := f.Received(); len(got) != 0 {
		t.Errorf("the relay got %d mails, want none", len(got))
	}
}

func TestDeliverBadOrders(t *testing.T) {
	f := outboundtest.StartFakeSMTP(t)
	h := newHarness(t, testConfig(f.Addr))
	m := h.draft(h.alice, "ext@example.org")
	recv, _, err := h.st.PutInbound(context.Background(), store.Message{UserID: h.alice.UserID, Subject: "in",
		IdentityIDs: []string{h.alice.ID}, IsReceived: true})
	if err != nil {
		t.Fatal(err)
	}
	noRcpt, err := h.st.CreateDraft(context.Background(), store.Message{UserID: h.alice.UserID,
		IdentityIDs: []string{h.alice.ID}, Participants: []store.Participant{{Type: "From", Address: h.alice.Identifier}}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, user, id, code string
		status               int
	}{
		{"unknown message", h.alice.UserID, "no-such-message", "unknown_message", 422},
		{"another user's draft", h.bob.UserID, m.ID, "unknown_message", 422},
		{"a received message", h.alice.UserID, recv.ID, "not_a_draft", 422},
		{"no recipient", h.alice.UserID, noRcpt.ID, "invalid_draft", 422},
	}
	for _, c := range cases {
		a := h.deliver(c.user, c.id)
		if a.code != c.code || a.status != c.status || !a.reply.Error || a.reply.Message == "" {
			t.Errorf("%s: %+v, want %d %s", c.name, a, c.status, c.code)
		}
	}
	for body, code := range map[string]string{
		`{"order":"deliver"`:                                 "invalid_json",
		`{"order":"deliver","user_id":"u"}`:                  "missing_field",
		`{"order":"explode","message_id":"m","user_id":"u"}`: "unknown_order",
	} {
		if a := h.post([]byte(body)); a.code != code || !a.reply.Error {
			t.Errorf("%s: %+v, want %s", body, a, code)
		}
	}
	if n := f.Attempts(); n != 0 {
		t.Errorf("bad orders sent %d messages", n)
	}
}
