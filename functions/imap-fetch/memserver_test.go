package imapfetch

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/imapsync/imaptest"
	"github.com/caliopen/functions/internal/store"
)

// memIMAP is go-imap's in-memory server behind a listener that can cut
// connections after a number of bytes sent, to inject failures.
type memIMAP struct {
	addr string
	user *imapmemserver.User
	// budget, when positive, is how many more bytes the server may send
	// before every connection is cut.
	budget atomic.Int64
}

func newMemIMAP(t *testing.T) *memIMAP {
	t.Helper()
	m := &memIMAP{}
	srv := imaptest.StartMem(t, imaptest.MemOptions{Listener: func(ln net.Listener) net.Listener {
		return &cutListener{Listener: ln, m: m}
	}})
	m.addr, m.user = srv.Addr, srv.User
	return m
}

// add appends series messages from..to-1 through IMAP.
func (m *memIMAP) add(t *testing.T, series string, from, to int) {
	t.Helper()
	c, err := imaptest.Dial(m.addr, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	var msgs [][]byte
	for i := from; i < to; i++ {
		msgs = append(msgs, message(series, i, 2048))
	}
	if err := c.Append(msgs...); err != nil {
		t.Fatal(err)
	}
}

type cutListener struct {
	net.Listener
	m *memIMAP
}

func (l *cutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &cutConn{Conn: c, m: l.m}, nil
}

type cutConn struct {
	net.Conn
	m *memIMAP
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.m.budget.Load() > 0 {
		left := c.m.budget.Add(-int64(len(p)))
		if left <= 0 {
			keep := max(int64(len(p))+left, 0)
			_, _ = c.Conn.Write(p[:keep])
			c.m.budget.Store(0)
			_ = c.Conn.Close()
			return int(keep), net.ErrClosed
		}
	}
	return c.Conn.Write(p)
}

// TestUIDValidityChange: a recreated INBOX voids the cursor; everything is
// imported again, and deduplication (raw ids) stores nothing twice.
func TestUIDValidityChange(t *testing.T) {
	m := newMemIMAP(t)
	m.add(t, "v", 0, 5)
	h := newHarness(t, testConfig())
	h.account(m.addr, "alice", "pw")
	h.drain(contract.OrderSync)
	before := h.identity().Sync
	if before.Cursor != "5" {
		t.Fatalf("cursor %q after 5 messages", before.Cursor)
	}
	if err := m.user.Delete("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := m.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	m.add(t, "v", 3, 7) // 3 and 4 again, 5 and 6 new; UIDs restart at 1
	res, err := h.invoke(context.Background(), contract.OrderSync)
	if err != nil || !strings.Contains(res.Message, "fetched 4,") {
		t.Fatalf("sync after the change: %s %v", res.Message, err)
	}
	after := h.identity().Sync
	if after.UIDValidity == before.UIDValidity || after.Cursor != "4" {
		t.Errorf("state after the change %+v (before %+v)", after, before)
	}
	if got, most := h.processed(); got != 7 || most != 2 || h.raws() != 7 {
		t.Errorf("%d distinct processed (max %d orders), %d stored; want 7, 2, 7", got, most, h.raws())
	}
}

// TestDisconnectMidFetch: the server drops the connection inside a
// message; the prefix is kept, the failure recorded, and the next sync
// gets the rest.
func TestDisconnectMidFetch(t *testing.T) {
	m := newMemIMAP(t)
	m.add(t, "d", 0, 10)
	h := newHarness(t, testConfig())
	h.account(m.addr, "alice", "pw")
	m.budget.Store(1500 + 4*2300) // greeting, login, examine, search, then 4-5 messages
	res, err := h.invoke(context.Background(), contract.OrderSync)
	if err != nil {
		t.Fatalf("a dropped connection is recorded, not an error: %v", err)
	}
	st := h.identity().Sync
	if st.ErrorCount != 1 || st.LastError == "" || st.Cursor == "10" {
		t.Fatalf("after the drop: %s; state %+v", res.Message, st)
	}
	t.Logf("first invocation: %s", res.Message)
	h.drain(contract.OrderSync)
	st = h.identity().Sync
	if got, _ := h.processed(); got != 10 || h.raws() != 10 || st.Cursor != "10" || st.ErrorCount != 0 {
		t.Errorf("%d processed, %d stored, state %+v", got, h.raws(), st)
	}
}

// TestRefusedLogin: failures are recorded, polling slows down from the
// third one (update_interval doubling, capped) and the identity is
// disabled after 72 h of failures; a success clears it all.
func TestRefusedLogin(t *testing.T) {
	m := newMemIMAP(t)
	h := newHarness(t, testConfig())
	h.account(m.addr, "alice", "wrong")
	start := h.now
	for i := 1; i <= 5; i++ {
		res, err := h.invoke(context.Background(), contract.OrderSync)
		if err != nil || !strings.Contains(res.Message, "failure recorded") {
			t.Fatalf("attempt %d: %s %v", i, res.Message, err)
		}
		h.mu.Lock()
		h.now = h.now.Add(time.Hour)
		h.mu.Unlock()
	}
	st := h.identity().Sync
	if st.ErrorCount != 5 || !strings.Contains(st.LastError, "login") || strings.Contains(st.LastError, "wrong") {
		t.Errorf("error state %+v", st)
	}
	var minutes []string
	for _, o := range h.published(contract.SubjectIdentitiesWorker) {
		var io contract.IdentityOrder
		if err := json.Unmarshal([]byte(o), &io); err != nil || io.Order != "update_interval" || io.Protocol != "imap" {
			t.Errorf("order %s", o)
		}
		minutes = append(minutes, strings.Split(strings.Split(o, `"poll_intervall":"`)[1], `"`)[0])
	}
	if strings.Join(minutes, ",") != "30,60,120" {
		t.Errorf("poll intervals %v, want 30,60,120 minutes", minutes)
	}
	if got := slowed(testConfig(), 40); got != 24*time.Hour {
		t.Errorf("slowed interval after 40 failures %s, want the 24h cap", got)
	}

	h.mu.Lock()
	h.now = start.Add(73 * time.Hour)
	h.mu.Unlock()
	if res, _ := h.invoke(context.Background(), contract.OrderSync); !strings.Contains(res.Message, "disabled") {
		t.Errorf("after 73 h: %s", res.Message)
	}
	if i := h.identity(); i.Status != store.Inactive {
		t.Errorf("status %s after 73 h of failures", i.Status)
	}
	if res, err := h.invoke(context.Background(), contract.OrderSync); err != nil || !strings.Contains(res.Message, "inactive") {
		t.Errorf("sync of an inactive identity: %s %v", res.Message, err)
	}
}

// TestRecovery: a success after slowed polling clears the errors and
// restores the base interval.
func TestRecovery(t *testing.T) {
	m := newMemIMAP(t)
	m.add(t, "r", 0, 2)
	h := newHarness(t, testConfig())
	h.account(m.addr, "alice", "pw")
	for range 3 {
		if _, err := h.st.RecordSyncError(context.Background(), h.ident.UserID, h.ident.ID, "earlier", h.now); err != nil {
			t.Fatal(err)
		}
	}
	h.ident = h.identity()
	h.drain(contract.OrderSync)
	if st := h.identity().Sync; st.ErrorCount != 0 || st.LastError != "" || !st.FirstErrorAt.IsZero() {
		t.Errorf("state after recovery %+v", st)
	}
	got := h.published(contract.SubjectIdentitiesWorker)
	if len(got) != 1 || !strings.Contains(got[0], `"poll_intervall":"15"`) {
		t.Errorf("orders after recovery %v", got)
	}
}

// TestLease: while another invocation holds the identity, sync is
// acknowledged with nothing done and fullfetch is throttled.
func TestLease(t *testing.T) {
	m := newMemIMAP(t)
	m.add(t, "l", 0, 1)
	h := newHarness(t, testConfig())
	h.account(m.addr, "alice", "pw")
	if ok, err := h.st.AcquireSync(context.Background(), h.ident.UserID, h.ident.ID, time.Now(), time.Minute); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if res, err := h.invoke(context.Background(), contract.OrderSync); err != nil || !strings.Contains(res.Message, "another sync") {
		t.Errorf("sync under a held lease: %s %v", res.Message, err)
	}
	if _, err := h.invoke(context.Background(), contract.OrderFullFetch); err == nil || faults.ClassOf(err) != faults.Throttled {
		t.Errorf("fullfetch under a held lease: %v", err)
	}
	if got, _ := h.processed(); got != 0 {
		t.Errorf("%d processed under a held lease", got)
	}
}

// TestSyncNotification: each batch with new messages stores one
// new_message notification (emitter imap_worker) listing at most 20 of
// them; a batch of duplicates (fullfetch) stores none.
func TestSyncNotification(t *testing.T) {
	m := newMemIMAP(t)
	m.add(t, "n", 0, 25)
	cfg := testConfig()
	cfg.Batch = 100
	h := newHarness(t, cfg)
	h.account(m.addr, "alice", "pw")
	h.drain(contract.OrderSync)
	m.add(t, "n", 25, 28)
	h.drain(contract.OrderSync)
	h.drain(contract.OrderFullFetch)
	ns, _, err := h.st.ListNotifications(context.Background(), h.ident.UserID, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	type body struct {
		Size     int `json:"size"`
		Elements []struct {
			Body map[string]string `json:"body"`
		} `json:"elements"`
	}
	var sizes []int
	for _, n := range ns {
		var b body
		if err := json.Unmarshal([]byte(n.Body), &b); err != nil {
			t.Fatalf("notification body %q: %v", n.Body, err)
		}
		if n.Type != store.NewMessageNotification || n.Emitter != NotificationEmitter || n.Reference != h.ident.ID || n.ExpiresAt.IsZero() {
			t.Errorf("notification %+v", n)
		}
		if len(b.Elements) != min(b.Size, notifyElements) || b.Elements[0].Body["message_id"] == "" ||
			b.Elements[0].Body["discussion_id"] != "d1" {
			t.Errorf("notification of %d messages lists %+v", b.Size, b.Elements)
		}
		sizes = append(sizes, b.Size)
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{3, 25}) {
		t.Errorf("notifications of %v messages, want one of 25, one of 3 and none for the fullfetch", sizes)
	}
}

// TestIMAPProtocolIdentity: a remote identity of protocol "imap" (the
// original's name for the same accounts, which the API accepts and the
// scheduler polls) is fetched like an "email" one; a remote identity of
// another protocol is still refused.
func TestIMAPProtocolIdentity(t *testing.T) {
	m := newMemIMAP(t)
	m.add(t, "p", 0, 4)
	h := newHarness(t, testConfig())
	h.protocol = "imap"
	h.account(m.addr, "alice", "pw")
	h.drain(contract.OrderSync)
	if distinct, _ := h.processed(); distinct != 4 {
		t.Errorf("%d messages fetched from an imap identity, want 4", distinct)
	}

	h2 := newHarness(t, testConfig())
	h2.protocol = store.ProtocolTwitter
	h2.account(m.addr, "alice", "pw")
	_, err := h2.invoke(context.Background(), contract.OrderSync)
	if err == nil || faults.ClassOf(err) != faults.Permanent || !strings.Contains(err.Error(), "not a remote e-mail account") {
		t.Errorf("twitter identity: %v, want bad_identity", err)
	}
}
