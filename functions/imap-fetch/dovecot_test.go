package imapfetch

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/imapsync/imaptest"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/outbound/outboundtest"
)

// dovecot returns the test Dovecot account with an empty INBOX and a
// client on it.
func dovecot(t *testing.T) (outboundtest.IMAP, *imaptest.Client) {
	t.Helper()
	d := outboundtest.DovecotIMAP(t)
	c, err := imaptest.Dial(d.Addr, d.User, d.Pass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Empty(); err != nil {
		t.Fatal(err)
	}
	return d, c
}

func appendN(t *testing.T, c *imaptest.Client, series string, from, to int) {
	t.Helper()
	msgs := make([][]byte, 0, to-from)
	for i := from; i < to; i++ {
		msgs = append(msgs, message(series, i, 2048))
	}
	if err := c.Append(msgs...); err != nil {
		t.Fatal(err)
	}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Batch, cfg.InFlight = 10, 4
	cfg.Budget, cfg.IMAPTimeout, cfg.ProcessTimeout, cfg.Lease = 10*time.Second, 5*time.Second, 5*time.Second, time.Minute
	cfg.Guard = netguard.MustParseAllow("127.0.0.1") // the test's servers, allowed as an operator allows them
	return cfg
}

// TestDovecotSync: N messages arrive in batches chained by follow-ups,
// later mail comes with the next sync, nothing is marked read.
func TestDovecotSync(t *testing.T) {
	d, c := dovecot(t)
	const n = 45
	appendN(t, c, t.Name(), 0, n)
	h := newHarness(t, testConfig())
	h.account(d.Addr, d.User, d.Pass)

	if runs := h.drain(contract.OrderSync); runs != 5 {
		t.Errorf("%d invocations for %d messages in batches of 10, want 5", runs, n)
	}
	if got, most := h.processed(); got != n || most != 1 {
		t.Fatalf("processed %d distinct messages (at most %d times each), want %d once", got, most, n)
	}
	if h.raws() != n {
		t.Errorf("%d raw messages stored, want %d", h.raws(), n)
	}
	st := h.identity().Sync
	if st.Cursor == "" || st.Cursor == "0" || st.UIDValidity == 0 || st.ErrorCount != 0 || st.LastSync.IsZero() {
		t.Errorf("sync state %+v", st)
	}
	if !h.identity().Sync.SyncingUntil.IsZero() {
		t.Error("the lease was not released")
	}
	for _, o := range h.published(contract.SubjectIMAPFetcher) {
		if o != `{"order":"sync","remote_id":"`+h.ident.ID+`","user_id":"`+h.ident.UserID+`"}` {
			t.Errorf("follow-up %s", o)
		}
	}

	appendN(t, c, t.Name(), n, n+3) // later mail
	if res, err := h.invoke(context.Background(), contract.OrderSync); err != nil || !strings.Contains(res.Message, "processed 3,") {
		t.Fatalf("next sync: %v %v", res.Message, err)
	}
	if got, _ := h.processed(); got != n+3 {
		t.Errorf("%d processed after new mail, want %d", got, n+3)
	}
	if res, err := h.invoke(context.Background(), contract.OrderSync); err != nil || !strings.Contains(res.Message, "fetched 0,") {
		t.Errorf("idle sync: %v %v", res.Message, err)
	}
	if seen, total, err := c.Seen(); err != nil || seen != 0 || total != n+3 {
		t.Errorf("%d of %d messages marked seen on the server (%v), want 0 of %d", seen, total, err, n+3)
	}

	// fullfetch re-imports everything: same raw ids, nothing new stored.
	h.drain(contract.OrderFullFetch)
	if got, most := h.processed(); got != n+3 || most != 2 {
		t.Errorf("after fullfetch: %d distinct, at most %d orders each; want %d, 2", got, most, n+3)
	}
	if h.raws() != n+3 {
		t.Errorf("%d raw messages after fullfetch, want %d", h.raws(), n+3)
	}
}

// TestDovecotRetryNotSkip: a message inbound-email fails on stops the
// cursor before it; the next sync retries it and nothing is skipped.
func TestDovecotRetryNotSkip(t *testing.T) {
	d, c := dovecot(t)
	appendN(t, c, t.Name(), 0, 8)
	h := newHarness(t, testConfig())
	h.account(d.Addr, d.User, d.Pass)
	bad := rawIDOf(message(t.Name(), 3, 2048))
	h.setFail(func(id string, attempt int) bool { return id == bad && attempt == 1 })

	res, err := h.invoke(context.Background(), contract.OrderSync)
	if err != nil || !strings.Contains(res.Message, "failed 1") {
		t.Fatalf("first sync: %s %v", res.Message, err)
	}
	st := h.identity().Sync
	if st.ErrorCount != 1 || !strings.Contains(st.LastError, "not processed") {
		t.Errorf("error state after a failed message: %+v", st)
	}
	first, _ := strconv.Atoi(st.Cursor)
	res, err = h.invoke(context.Background(), contract.OrderSync)
	if err != nil || !strings.Contains(res.Message, "fetched 5,") {
		t.Fatalf("second sync should fetch the failed message and the 4 after it: %s %v", res.Message, err)
	}
	if h.orders(bad) != 2 {
		t.Errorf("the failed message was ordered %d times, want 2", h.orders(bad))
	}
	st = h.identity().Sync
	if last, _ := strconv.Atoi(st.Cursor); last != first+5 || st.ErrorCount != 0 {
		t.Errorf("cursor %d after %d, errors %d", last, first, st.ErrorCount)
	}
	if got, _ := h.processed(); got != 8 || h.raws() != 8 {
		t.Errorf("%d processed, %d stored, want 8", got, h.raws())
	}
}

// TestDovecotRestart: an invocation that dies mid-batch (its context ends)
// loses nothing, and the next one stores nothing twice.
func TestDovecotRestart(t *testing.T) {
	d, c := dovecot(t)
	const n = 20
	appendN(t, c, t.Name(), 0, n)
	cfg := testConfig()
	cfg.Batch, cfg.InFlight = 100, 2
	h := newHarness(t, cfg)
	h.account(d.Addr, d.User, d.Pass)
	ctx, cancel := context.WithCancel(context.Background())
	h.setFail(func(_ string, _ int) bool {
		if got, _ := h.processedLocked(); got == 7 {
			cancel() // the invocation dies while messages are in flight
		}
		return false
	})
	_, _ = h.invoke(ctx, contract.OrderSync)
	h.setFail(nil)
	mid, _ := h.processed()
	if mid >= n {
		t.Fatalf("the first invocation was not interrupted (%d processed)", mid)
	}
	h.drain(contract.OrderSync)
	got, most := h.processed()
	if got != n || h.raws() != n {
		t.Errorf("%d processed, %d stored after the restart, want %d", got, h.raws(), n)
	}
	// Only what was in flight when the invocation died may be ordered a
	// second time (inbound-email answers it as a duplicate); a message
	// answered before the death and ordered again would be fetched and
	// stored twice.
	again := h.reordered()
	t.Logf("died after %d messages; %d ordered again, at most %d times each", mid, again, most)
	if most > 2 || again > cfg.InFlight {
		t.Errorf("%d messages ordered again after the restart (at most %d times each), want at most the %d in flight, once",
			again, most, cfg.InFlight)
	}
}
