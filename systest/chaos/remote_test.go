package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/contract"
)

// The remote accounts' side of the load: each remote identity is its own
// Dovecot user (so that its sessions can be told apart in Dovecot's log),
// created through the API (add_identity on identitiesWorker), synced by
// the scheduler's orders on IMAPfetcher, stopped (update_identity) and
// deleted (delete_identity) through the API.
const (
	// remoteEvery is the pace of new remote identities during the first
	// remoteFor of the load, from its start: their first syncs fall in
	// the first faults, their second ones (a poll later) in the last
	// ones; later identities would outlive the load.
	remoteEvery = 4 * time.Second
	remoteFor   = 40 * time.Second
	// remotePoll is their poll interval (the API's least, in minutes).
	remotePoll = 1
	// remoteLate is when, after its creation, a message arrives in an
	// identity's mailbox: the scheduler's next sync (remotePoll later)
	// fetches it.
	remoteLate = 8 * time.Second
	// remoteDeadline bounds the wait for an identity's messages: two polls,
	// a retry, and the scheduler's spread of a run it finds overdue (one
	// interval at most, schedule.Policy.Decide: a run overdue after a
	// scheduler or connector fault fires up to a poll later).
	remoteDeadline = 210 * time.Second
	// remoteStopGap is the time between stopping an identity's polling and
	// deleting it, for a sync order already sent to find it inactive.
	remoteStopGap = 10 * time.Second
	// syncMinGap: two sync orders of one identity closer than this are
	// one due run sent twice. Legitimately they are a poll interval apart
	// (±10 % jitter), or the scheduler's RetryDelay (30 s) after a send
	// that failed.
	syncMinGap = 20 * time.Second
	// appendFrom is the address the test's own IMAP sessions come from,
	// so that Dovecot's log tells them from imap-fetch's (127.0.0.1).
	appendFrom = "127.0.0.2"
)

// dovecot is the test's own Dovecot (scripts/test-peers/dovecot-imap.sh):
// users are added to its passwd-file, which Dovecot reads again when it
// changes.
type dovecot struct {
	addr, dir string
	mu        sync.Mutex
}

func startDovecot(t testing.TB) *dovecot {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/dovecot"); err != nil {
		missing(t, "Dovecot (scripts/test-peers/dovecot-imap.sh installs it)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "test-peers", "dovecot-imap.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dovecot-imap.sh: %v\n%s", err, stderr.String())
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
			vars[k] = v
		}
	}
	d := &dovecot{addr: vars["CALIOPEN_TEST_DOVECOT_IMAP_ADDR"], dir: vars["CALIOPEN_TEST_DOVECOT_IMAP_DIR"]}
	t.Cleanup(func() {
		_ = exec.Command("bash", filepath.Join(root, "scripts", "test-peers", "stop.sh"),
			vars["CALIOPEN_TEST_DOVECOT_IMAP_PID"], d.dir).Run()
	})
	if d.addr == "" || d.dir == "" {
		t.Fatalf("dovecot-imap.sh printed no address or folder:\n%s", out)
	}
	return d
}

// addUser adds a Dovecot user.
func (d *dovecot) addUser(user, pass string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(d.dir, "users"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s:{PLAIN}%s\n", user, pass); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// appendMsgs puts msgs into user's INBOX over IMAP, from appendFrom.
func (d *dovecot) appendMsgs(user, pass string, msgs ...[]byte) error {
	var err error
	// A user just added may meet the auth process reading its file.
	for try := 0; try < 20; try++ {
		if err = d.appendOnce(user, pass, msgs); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func (d *dovecot) appendOnce(user, pass string, msgs [][]byte) error {
	dialer := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(appendFrom)}}
	conn, err := dialer.Dial("tcp", d.addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", d.addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		return fmt.Errorf("login %s: %w", user, err)
	}
	for i, m := range msgs {
		cmd := c.Append("INBOX", int64(len(m)), &imap.AppendOptions{Time: time.Now()})
		if _, err := cmd.Write(m); err != nil {
			return fmt.Errorf("append message %d: %w", i, err)
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("append message %d: %w", i, err)
		}
		if _, err := cmd.Wait(); err != nil {
			return fmt.Errorf("append message %d: %w", i, err)
		}
	}
	return c.Logout().Wait()
}

// session is one IMAP session in Dovecot's log.
type session struct {
	user string
	at   time.Time // its login, to the second
	// overlaps: another session of the same user was open when it logged in.
	overlaps bool
}

var (
	loginLine = regexp.MustCompile(`imap-login: (?:Info: )?Login: user=<([^>]+)>.*\brip=([0-9.:a-f]+).*\bsession=<([^>]+)>`)
	endLine   = regexp.MustCompile(`imap\(([^)]+)\)<\d+><([^>]+)>: (?:Info: )?(?:Disconnected|Logged out|Connection closed)`)
)

// sessions reads Dovecot's log: each session from rip, in the log's order,
// marked when it logged in while another session of its user was open (a
// sync that ran concurrently with itself). The log's order is Dovecot's
// own: a login written before another session's end came before it.
func sessions(log []byte, rip string, year int) []session {
	var out []session
	open := map[string]map[string]bool{} // user -> open sessions
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := loginLine.FindStringSubmatch(line); m != nil {
			if m[2] != rip {
				continue
			}
			user, id := m[1], m[3]
			if open[user] == nil {
				open[user] = map[string]bool{}
			}
			out = append(out, session{user: user, at: logTime(line, year), overlaps: len(open[user]) > 0})
			open[user][id] = true
			continue
		}
		if m := endLine.FindStringSubmatch(line); m != nil {
			delete(open[m[1]], m[2])
		}
	}
	return out
}

// logTime reads the time at the start of a Dovecot log line ("Dec 07
// 23:40:01 "), the zero time when it has none.
func logTime(line string, year int) time.Time {
	if len(line) < 15 {
		return time.Time{}
	}
	t, err := time.ParseInLocation("Jan 02 15:04:05", line[:15], time.Local)
	if err != nil {
		return time.Time{}
	}
	return t.AddDate(year, 0, 0)
}

// syncOrder is one sync order seen on IMAPfetcher.
type syncOrder struct {
	identity string
	at       time.Time
	doubled  bool // less than syncMinGap after the one before, for the same identity
}

// watcher records the sync orders as the operator sees them go by (a plain
// subscription, which takes nothing from the connectors). A publish
// retried with the same Nats-Msg-Id is one order: JetStream keeps one.
type watcher struct {
	nc   *nats.Conn
	mu   sync.Mutex
	seen map[string]bool
	all  []syncOrder
}

func watchSyncs(t testing.TB, s state) *watcher {
	t.Helper()
	pw, err := os.ReadFile(s.OperatorPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{seen: map[string]bool{}}
	w.nc, err = nats.Connect(s.NATSURL, nats.UserInfo("operator", strings.TrimSpace(string(pw))),
		nats.RootCAs(s.NATSCAFile), nats.CustomInboxPrefix("_INBOX_operator"),
		nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatalf("connect as the operator: %v", err)
	}
	t.Cleanup(w.nc.Close)
	if _, err := w.nc.Subscribe(contract.SubjectIMAPFetcher, w.record); err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *watcher) record(m *nats.Msg) {
	var o struct {
		Order    string `json:"order"`
		RemoteID string `json:"remote_id"`
	}
	if json.Unmarshal(m.Data, &o) != nil || o.Order != contract.OrderSync {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if id := m.Header.Get(nats.MsgIdHdr); id != "" {
		if w.seen[id] {
			return
		}
		w.seen[id] = true
	}
	w.all = append(w.all, syncOrder{identity: o.RemoteID, at: time.Now()})
}

// syncs returns the orders seen, each marked when it doubles the one
// before of its identity.
func (w *watcher) syncs() []syncOrder {
	w.mu.Lock()
	defer w.mu.Unlock()
	return markDoubled(slices.Clone(w.all), syncMinGap)
}

// markDoubled marks each order that follows one of the same identity by
// less than gap.
func markDoubled(all []syncOrder, gap time.Duration) []syncOrder {
	slices.SortStableFunc(all, func(a, b syncOrder) int { return a.at.Compare(b.at) })
	last := map[string]time.Time{}
	for i, o := range all {
		if prev, ok := last[o.identity]; ok && o.at.Sub(prev) < gap {
			all[i].doubled = true
		}
		last[o.identity] = o.at
	}
	return all
}

// remote is one remote identity of the load.
type remote struct {
	user     *apiUser
	imapUser string
	id       string
	msgs     []*remoteMsg
	// the API calls that change it: add_identity, update_identity
	// (stopped), delete_identity.
	add, stop, del *order
}

// remoteMsg is one message put into a remote identity's mailbox.
type remoteMsg struct {
	id       string // Message-ID without brackets
	appended time.Time
	ok       bool      // the append succeeded
	stored   time.Time // when the load first saw it stored
}

// runRemotes starts a remote identity at once, then every remoteEvery
// until remoteFor has passed.
func (l *load) runRemotes(ctx context.Context) {
	live := func() {
		l.mu.Lock()
		l.remoteLive++
		l.mu.Unlock()
		l.wg.Go(func() {
			defer func() {
				l.mu.Lock()
				l.remoteLive--
				l.mu.Unlock()
			}()
			l.remoteIdentity(context.WithoutCancel(ctx))
		})
	}
	l.wg.Go(func() {
		tick := time.NewTicker(remoteEvery)
		defer tick.Stop()
		end := time.After(remoteFor)
		for live(); ; live() {
			select {
			case <-ctx.Done():
				return
			case <-end:
				return
			case <-tick.C:
			}
		}
	})
	l.wg.Go(func() { l.watchRemoteMail(ctx) })
}

// remoteIdentity is one identity's life: its mailbox gets two messages,
// the identity is created (its first sync fetches them), a third message
// arrives (the next poll fetches it), then, once all three are stored, its
// polling is stopped and it is deleted.
func (l *load) remoteIdentity(ctx context.Context) {
	n := l.next()
	r := &remote{user: l.users[n%len(l.users)], imapUser: fmt.Sprintf("chaos-imap-%d", n)}
	l.mu.Lock()
	l.remotes = append(l.remotes, r)
	l.mu.Unlock()
	pass := fmt.Sprintf("imap-password-%d", n)
	if err := l.imap.addUser(r.imapUser, pass); err != nil {
		l.fail("add Dovecot user %s: %v", r.imapUser, err)
		return
	}
	l.appendRemote(r, pass, 2)
	r.add = l.newOrder("identity", r.imapUser)
	var ident struct {
		ID string `json:"identity_id"`
	}
	poll := remotePoll
	err := l.call(ctx, "identity", r.user, http.MethodPost, "/identities/remotes", map[string]any{
		"protocol": "email", "identifier": r.imapUser + "@remote.chaos.test", "poll_interval": poll,
		"infos":       map[string]string{"inserver": l.imap.addr, "intls": "none"},
		"credentials": map[string]string{"inusername": r.imapUser, "inpassword": pass}}, &ident)
	if err != nil {
		return
	}
	l.mu.Lock()
	r.id = ident.ID
	l.mu.Unlock()
	l.accept(r.add)
	created := time.Now()
	time.Sleep(remoteLate)
	l.appendRemote(r, pass, 1)
	for !l.remoteStored(r) && time.Since(created) < remoteDeadline {
		time.Sleep(time.Second)
	}
	r.stop = l.newOrder("identity", r.imapUser)
	if l.call(ctx, "identity", r.user, http.MethodPatch, "/identities/remotes/"+r.id, map[string]any{"status": "inactive"}, nil) == nil {
		l.accept(r.stop)
	}
	time.Sleep(remoteStopGap)
	r.del = l.newOrder("identity", r.imapUser)
	if l.call(ctx, "identity", r.user, http.MethodDelete, "/identities/remotes/"+r.id, nil, nil) == nil {
		l.accept(r.del)
	}
}

// appendRemote puts k new messages into r's mailbox.
func (l *load) appendRemote(r *remote, pass string, k int) {
	var raws [][]byte
	var msgs []*remoteMsg
	for range k {
		m := &remoteMsg{id: fmt.Sprintf("%s-%d-%d@remote.chaos.test", r.imapUser, l.next(), time.Now().UnixNano())}
		msgs = append(msgs, m)
		raws = append(raws, fmt.Appendf(nil, "From: <friend@remote.chaos.test>\r\nTo: <%s@remote.chaos.test>\r\nSubject: remote %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\nfetched under faults\r\n",
			r.imapUser, m.id, m.id, time.Now().UTC().Format(time.RFC1123Z)))
	}
	err := l.imap.appendMsgs(r.imapUser, pass, raws...)
	if err != nil {
		l.fail("append to %s: %v", r.imapUser, err)
	}
	now := time.Now()
	l.mu.Lock()
	for _, m := range msgs {
		m.appended, m.ok = now, err == nil
	}
	r.msgs = append(r.msgs, msgs...)
	l.mu.Unlock()
}

// remoteStored says whether every message appended to r is stored.
func (l *load) remoteStored(r *remote) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range r.msgs {
		if m.ok && m.stored.IsZero() {
			return false
		}
	}
	return true
}

// watchRemoteMail notes, every second, when each remote message is first
// seen stored, until ctx ends and no identity waits any more.
func (l *load) watchRemoteMail(ctx context.Context) {
	for {
		stored, err := countBy(context.WithoutCancel(ctx), l.db,
			`SELECT external_message_id, count(*) FROM messages WHERE external_message_id LIKE '%@remote.chaos.test%' GROUP BY external_message_id`)
		now := time.Now()
		l.mu.Lock()
		waiting := l.remoteLive > 0
		for _, r := range l.remotes {
			for _, m := range r.msgs {
				if err == nil && m.stored.IsZero() && (stored["<"+m.id+">"] > 0 || stored[m.id] > 0) {
					m.stored = now
				}
			}
		}
		l.mu.Unlock()
		if ctx.Err() != nil && !waiting {
			return
		}
		time.Sleep(time.Second)
	}
}
