package chaos

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the cluster's store is PostgreSQL
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

// The budget: the cluster's start (its binaries built from a warm cache
// and started: about 100 s on two cores shared with other builds), a
// baseline, six faults of phase each (100 s), the remote identities' last
// polls after the faults (the last one is created remoteFor into the load
// and lives a poll interval and a stop: about 30 s past the faults), and
// the drain: about four minutes, under five.
const (
	startTimeout = 6 * time.Minute
	baseline     = 10 * time.Second
	phase        = 15 * time.Second
	drainTimeout = 60 * time.Second
	// mailRate and orderRate are the steady load: modest, the machine is
	// shared.
	mailRate  = 6.0
	orderRate = 1.0
	// recoveryTarget is the target: full throughput within 10 s
	// of any single fault.
	recoveryTarget = 10 * time.Second
)

// fault is one thing that goes wrong.
type fault struct {
	name   string
	victim func(t *testing.T, c *cluster, s state) victim // kills it
}

// victim is what a fault killed: its name, and when it is back (nil: nothing
// to wait for).
type victim struct {
	name string
	back func(s state) bool
}

// kill9 kills a supervised process; it is back when started again and ready.
func kill9(t *testing.T, s state, name string) victim {
	t.Helper()
	p, ok := s.proc(name)
	if !ok || p.PID == 0 {
		t.Fatalf("no running process %s", name)
	}
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s (%d): %v", name, p.PID, err)
	}
	return victim{name, func(s state) bool { p2, ok := s.proc(name); return ok && p2.Starts > p.Starts && p2.Ready }}
}

// killReplica kills a ready replica of fn that the provider started; it is
// back when the provider has as many ready replicas of fn again, the
// killed one not among them.
func killReplica(t *testing.T, s state, fn string) victim {
	t.Helper()
	var ready []replica
	for _, r := range s.Replicas {
		if r.Function == fn && r.Ready && r.PID != 0 {
			ready = append(ready, r)
		}
	}
	if len(ready) < 2 {
		t.Fatalf("%d ready replicas of %s, want at least 2: %+v", len(ready), fn, s.Replicas)
	}
	r := ready[0]
	if err := syscall.Kill(r.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 replica %s (%d): %v", r.ID, r.PID, err)
	}
	return victim{r.ID, func(s state) bool {
		n := 0
		for _, x := range s.Replicas {
			if x.Function == fn && x.Ready && x.PID != r.PID {
				n++
			}
		}
		return n >= len(ready)
	}}
}

// TestChaos runs the cluster under a steady load (inbound mail on both
// SMTP listeners, drafts sent through the API to local users, contacts
// created through the API, whose contact_update orders go through the
// JetStream stream, and remote e-mail identities on the test's own Dovecot,
// created, stopped and deleted through the API, whose identity orders and
// the scheduler's sync orders go through the stream too) and kills, one at
// a time: the NATS server leading the order stream, a connector, a
// listener, a scheduler, a function replica (inbound-email), and restarts
// PostgreSQL. Each victim must come back (the supervisor starts it again,
// as Kubernetes would). Then, per fault: every mail acknowledged with 250
// is stored exactly once, every draft whose send was accepted reached its
// recipient exactly once, every contact accepted exists once and its
// contact_update was applied exactly once (its privacy written once, a
// PostgreSQL trigger counting the writes), every identity order accepted
// took effect, every message of a remote mailbox is stored exactly once,
// no due sync was sent twice and no account was synced by two sessions at
// once; no request went without an answer past its deadline, no valid
// order was dead-lettered.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole cluster (about four minutes)")
	}
	imapPeer := startDovecot(t)
	// The remote accounts are on loopback: the operator allows it, as
	// CALIOPEN_EGRESS_ALLOW does in production for an internal server.
	c := startCluster(t, startTimeout, "CALIOPEN_EGRESS_ALLOW=127.0.0.1")
	s := c.state(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	db, err := sql.Open("pgx", s.StoreDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := countPrivacyWrites(ctx, db); err != nil {
		t.Fatal(err)
	}
	l := &load{api: s.GatewayURL + "/function/api/api/v2", domain: s.LocalDomain, imap: imapPeer, db: db}
	for _, p := range s.kind("smtp-listener") {
		l.smtpAddrs = append(l.smtpAddrs, p.Addrs["smtp_listen"])
	}
	// The login line make cluster prints: the admin's password file works.
	adminPW, err := os.ReadFile(s.AdminPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.login(ctx, "admin", strings.TrimSpace(string(adminPW))); err != nil {
		t.Fatalf("log in as the admin with %s: %v", s.AdminPasswordFile, err)
	}
	users := []string{"chaos-a", "chaos-b", "chaos-c"}
	for _, name := range users {
		if err := createUser(ctx, s, name); err != nil {
			t.Fatal(err)
		}
		u, err := l.login(ctx, name, "chaos-password-"+name)
		if err != nil {
			t.Fatal(err)
		}
		l.users = append(l.users, u)
	}
	syncs := watchSyncs(t, s)

	loadCtx, stopLoad := context.WithCancel(ctx)
	start := time.Now()
	l.run(loadCtx, mailRate, orderRate)
	l.runRemotes(loadCtx)
	time.Sleep(baseline)
	basel := window{start.Add(2 * time.Second), time.Now()}
	// Slow is slower than three times the baseline's p99, at least 2 s: a
	// busy machine's own pace is no fault.
	slow := max(2*time.Second, 3*l.p99(basel))
	t.Logf("baseline: p99 of mail %s; slow above %s", l.p99(basel), slow)

	faults := []fault{
		{"NATS stream leader", func(t *testing.T, c *cluster, s state) victim {
			leader, err := streamLeader(ctx, s, "CALIOPEN_ORDERS")
			if err != nil {
				t.Fatal(err)
			}
			return kill9(t, s, leader)
		}},
		{"connector", func(t *testing.T, c *cluster, s state) victim { return kill9(t, s, "connector-0") }},
		{"SMTP listener", func(t *testing.T, c *cluster, s state) victim { return kill9(t, s, "smtp-listener-0") }},
		{"scheduler", func(t *testing.T, c *cluster, s state) victim { return kill9(t, s, "scheduler-0") }},
		{"function replica", func(t *testing.T, c *cluster, s state) victim { return killReplica(t, s, "inbound-email") }},
		{"PostgreSQL restart", func(t *testing.T, c *cluster, s state) victim { c.restartPostgres(t); return victim{} }},
	}
	rows := []faultRow{{name: "baseline", w: window{start, time.Now()}}}
	for _, f := range faults {
		s := c.state(t)
		at := time.Now()
		v := f.victim(t, c, s)
		var back time.Duration
		if v.back != nil {
			back = c.waitBack(t, v, 2*phase).Sub(at)
		}
		if rest := phase - time.Since(at); rest > 0 {
			time.Sleep(rest)
		}
		rows = append(rows, faultRow{name: f.name + " " + v.name, w: window{at, time.Now()}, back: back})
	}
	afterFaults := time.Now()
	stopLoad()
	// The remote identities end their lives (their last poll, stop and
	// delete) after the faults: the load waits for them.
	l.wait()

	// Every acked mail and accepted order must land; give them time.
	var stored, writes map[string]int
	deadline := time.Now().Add(drainTimeout)
	for {
		if stored, err = storedMails(ctx, db); err != nil {
			t.Fatal(err)
		}
		if writes, err = privacyWrites(ctx, db); err != nil {
			t.Fatal(err)
		}
		if done(l, stored, writes) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	rows = append(rows, faultRow{name: "after the faults", w: window{afterFaults, time.Now()}})
	// What each user holds of a draft: the recipient its inbound copy, the
	// sender its sent one; keyed "subject|user".
	received, err := countBy(ctx, db, `SELECT subject || '|' || u.name, count(*) FROM messages m JOIN users u ON u.id = m.user_id
		WHERE subject LIKE 'chaos draft %' AND NOT is_draft AND u.name = ANY($1) GROUP BY subject, u.name`, users)
	if err != nil {
		t.Fatal(err)
	}
	contacts, err := countBy(ctx, db, `SELECT given_name, count(*) FROM contacts WHERE given_name LIKE 'chaos-contact-%' GROUP BY given_name`)
	if err != nil {
		t.Fatal(err)
	}
	remoteStored, err := countBy(ctx, db, `SELECT trim(both '<>' from external_message_id), count(*) FROM messages
		WHERE external_message_id LIKE '%@remote.chaos.test%' GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	left, err := remainingIdentities(ctx, db, l)
	if err != nil {
		t.Fatal(err)
	}
	allSyncs := syncs.syncs()
	dovecotLog, err := os.ReadFile(filepath.Join(imapPeer.dir, "dovecot.log"))
	if err != nil {
		t.Fatal(err)
	}
	sess := sessions(dovecotLog, "127.0.0.1", time.Now().Year())

	fmt.Printf("chaos: %d mails, %d orders, %d remote identities; load %.0f mails/s and %.0f drafts + %.0f contacts/s, a remote identity every %s for %s; slow above %s\n",
		len(l.mails), len(l.orders), len(l.remotes), mailRate, orderRate, orderRate, remoteEvery, remoteFor, slow)
	// The target: full throughput within 10 s of each fault.
	for _, r := range rows[1 : len(rows)-1] {
		if rec := l.recovery(r.w, slow); rec > recoveryTarget+slow {
			t.Errorf("%s: full throughput again after %.1f s, above the target of %s (+ the machine's slow %s)",
				r.name, rec.Seconds(), recoveryTarget, slow)
		}
	}
	l.mu.Lock()
	mailCheck := check{name: "mails (inbound SMTP; acked: 250; p99 from the first try to 250, across retries)", kinds: []string{"mail"}}
	for _, m := range l.mails {
		mailCheck.outcomes = append(mailCheck.outcomes, outcome{at: m.start, acked: m.acked, n: stored[m.id], latency: m.end.Sub(m.start)})
	}
	sendCheck := check{name: "drafts sent (acked: the send answered delivered; effect: the recipient's copy)", kinds: []string{"send"}}
	contactCheck := check{name: "contacts (acked: created; effect: contact_update applied, its privacy written)", kinds: []string{"contact"}}
	var sends, sendsAccepted, contactsAccepted int
	for _, o := range l.orders {
		switch o.kind {
		case "send":
			sends++
			n := received[o.key+"|"+o.to]
			sendCheck.outcomes = append(sendCheck.outcomes, outcome{at: o.start, acked: o.accepted, n: n, latency: o.end.Sub(o.start)})
			if o.accepted {
				sendsAccepted++
			}
		case "contact":
			contactCheck.outcomes = append(contactCheck.outcomes, outcome{at: o.start, acked: o.accepted, n: writes[o.key], latency: o.end.Sub(o.start)})
			if o.accepted {
				contactsAccepted++
				if n := contacts[o.key]; n != 1 {
					t.Errorf("contact %q: accepted, stored %d times", o.key, n)
				}
			}
		}
	}
	identityCheck, remoteCheck := remoteChecks(l, allSyncs, sess, left, remoteStored)
	failures := slices.Clone(l.failures)
	l.mu.Unlock()

	var lost, doubled [4]int
	lost[0], doubled[0] = l.table(mailCheck, rows, slow)
	lost[1], doubled[1] = l.table(sendCheck, rows, slow)
	lost[2], doubled[2] = l.table(contactCheck, rows, slow)
	lost[3], doubled[3] = l.table(identityCheck, rows, slow)
	remoteLost, remoteDoubled := l.table(remoteCheck, rows, slow)
	syncsDoubled, concurrent := syncTable(rows, allSyncs, sess)
	fmt.Printf("\nchaos: drafts sent %d, accepted %d; contacts accepted %d; remote identities %d, sync orders %d, imap-fetch sessions %d\n",
		sends, sendsAccepted, contactsAccepted, len(l.remotes), len(allSyncs), len(sess))
	for i, what := range []string{"mails acked with 250", "sends accepted", "contacts' contact_update", "identity orders accepted"} {
		if lost[i] > 0 || doubled[i] > 0 {
			t.Errorf("%s: %d without effect, %d with more than one", what, lost[i], doubled[i])
		}
	}
	if remoteLost > 0 || remoteDoubled > 0 {
		t.Errorf("remote mail: %d messages of an accepted identity's mailbox not stored, %d stored more than once", remoteLost, remoteDoubled)
	}
	if syncsDoubled > 0 || concurrent > 0 {
		t.Errorf("syncs: %d due runs sent twice, %d sessions of an account while another was open", syncsDoubled, concurrent)
	}
	for _, f := range failures {
		t.Errorf("the load itself: %s", f)
	}
	if n := l.unanswered(); n > 0 {
		t.Errorf("%d requests got no answer before their deadline", n)
	}
	if sendsAccepted == 0 || contactsAccepted == 0 || len(allSyncs) == 0 {
		t.Errorf("no order accepted at all (drafts %d, contacts %d, syncs %d): the load did not run", sendsAccepted, contactsAccepted, len(allSyncs))
	}
	checkOrders(ctx, t, s, l)
	provePrivacyCount(ctx, t, db, l)
}

// provePrivacyCount shows that the contacts' check can fail: a privacy
// write made here, as a second apply of its order would make it, counts
// as a second effect.
func provePrivacyCount(ctx context.Context, t *testing.T, db *sql.DB, l *load) {
	var key string
	l.mu.Lock()
	for _, o := range l.orders {
		if o.kind == "contact" && o.accepted {
			key = o.key
			break
		}
	}
	l.mu.Unlock()
	if key == "" {
		return
	}
	if _, err := db.ExecContext(ctx, `UPDATE contacts SET pi = jsonb_set(pi, '{date_update}', to_jsonb(now()::text)) WHERE given_name = $1`, key); err != nil {
		t.Fatal(err)
	}
	writes, err := privacyWrites(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("chaos: contact %s written once more by the test: %d privacy writes counted (the check would report it doubled)\n", key, writes[key])
	if writes[key] != 2 {
		t.Errorf("contact %s: %d privacy writes after one more, want 2: the count does not see a second apply", key, writes[key])
	}
}

// done says whether every acked mail is stored and every accepted
// contact's order applied.
func done(l *load, stored, writes map[string]int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.mails {
		if m.acked && stored[m.id] == 0 {
			return false
		}
	}
	for _, o := range l.orders {
		if o.kind == "contact" && o.accepted && writes[o.key] == 0 {
			return false
		}
	}
	return true
}

func storedMails(ctx context.Context, db *sql.DB) (map[string]int, error) {
	m, err := countBy(ctx, db, `SELECT external_message_id, count(*) FROM messages WHERE external_message_id LIKE '%chaos-%' GROUP BY external_message_id`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for k, n := range m {
		out[strings.Trim(k, "<>")] += n
	}
	return out, nil
}

func countBy(ctx context.Context, db *sql.DB, query string, args ...any) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}

// createUser creates a user with its local identity straight in the store,
// as caliopen-admin does.
func createUser(ctx context.Context, s state, name string) error {
	st, err := store.Open(ctx, s.StoreDSN)
	if err != nil {
		return err
	}
	defer st.Close()
	acc, err := accounts.New(accounts.Config{LocalDomain: s.LocalDomain}, st)
	if err != nil {
		return err
	}
	_, _, err = acc.CreateUser(ctx, accounts.NewUser{Name: name, Password: "chaos-password-" + name})
	return err
}

// countPrivacyWrites installs, in the cluster's PostgreSQL, a trigger that
// records each write of a contact's privacy (contact-action's effect): an
// order applied twice, by two deliveries that both found the contact not
// yet computed, writes twice; one redelivered after the first was applied
// finds nothing to change and writes nothing.
func countPrivacyWrites(ctx context.Context, db *sql.DB) error {
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS chaos_privacy_writes (contact_id TEXT NOT NULL, written_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
		`CREATE OR REPLACE FUNCTION chaos_privacy_written() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO chaos_privacy_writes (contact_id) VALUES (NEW.id); RETURN NEW; END $$`,
		`DROP TRIGGER IF EXISTS chaos_privacy_written ON contacts`,
		`CREATE TRIGGER chaos_privacy_written AFTER UPDATE OF pi, privacy_features ON contacts FOR EACH ROW
		WHEN (OLD.pi IS DISTINCT FROM NEW.pi OR OLD.privacy_features IS DISTINCT FROM NEW.privacy_features)
		EXECUTE FUNCTION chaos_privacy_written()`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("count the writes of contacts' privacy: %w", err)
		}
	}
	return nil
}

// privacyWrites counts the privacy writes of the load's contacts, by given name.
func privacyWrites(ctx context.Context, db *sql.DB) (map[string]int, error) {
	return countBy(ctx, db, `SELECT c.given_name, count(*) FROM chaos_privacy_writes w JOIN contacts c ON c.id = w.contact_id
		WHERE c.given_name LIKE 'chaos-contact-%' GROUP BY c.given_name`)
}

// remainingIdentities lists the load's identities that still have a row
// or a schedule.
func remainingIdentities(ctx context.Context, db *sql.DB, l *load) (map[string]bool, error) {
	l.mu.Lock()
	var ids []string
	for _, r := range l.remotes {
		if r.id != "" {
			ids = append(ids, r.id)
		}
	}
	l.mu.Unlock()
	n, err := countBy(ctx, db, `SELECT id, 1 FROM identities WHERE id = ANY($1)
		UNION SELECT identity_id, 1 FROM schedules WHERE identity_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for id := range n {
		out[id] = true
	}
	return out, nil
}

// stopGrace: a sync order the scheduler sent before an identity was
// stopped may be seen a little after.
const stopGrace = 15 * time.Second

// remoteChecks are the identity orders (add_identity: the account was
// synced; update_identity to inactive: no sync order after it; delete:
// neither the identity nor its schedule is left) and the remote mail
// (each message of an accepted identity's mailbox stored once). l.mu is
// held.
func remoteChecks(l *load, syncs []syncOrder, sess []session, left map[string]bool, stored map[string]int) (check, check) {
	ids := check{name: "identity orders (acked: the API accepted add, stop, delete; effect: synced, no sync after the stop, nothing left)",
		kinds: []string{"identity"}}
	mail := check{name: "remote mail (acked: in an accepted identity's Dovecot mailbox; effect: stored; p99 from the append to stored, a poll interval)",
		kinds: []string{"identity"}}
	synced := map[string]bool{}
	for _, x := range sess {
		synced[x.user] = true
	}
	lastSync := map[string]time.Time{}
	for _, o := range syncs {
		if o.at.After(lastSync[o.identity]) {
			lastSync[o.identity] = o.at
		}
	}
	of := func(o *order, applied bool) outcome {
		n := 0
		if applied {
			n = 1
		}
		return outcome{at: o.start, acked: o.accepted, n: n, latency: o.end.Sub(o.start)}
	}
	for _, r := range l.remotes {
		if r.add == nil {
			continue
		}
		ids.outcomes = append(ids.outcomes, of(r.add, synced[r.imapUser] || !lastSync[r.id].IsZero()))
		if r.stop != nil {
			ids.outcomes = append(ids.outcomes, of(r.stop, r.stop.accepted && !lastSync[r.id].After(r.stop.end.Add(stopGrace))))
		}
		if r.del != nil {
			ids.outcomes = append(ids.outcomes, of(r.del, !left[r.id]))
		}
		for _, m := range r.msgs {
			var lat time.Duration
			if !m.stored.IsZero() {
				lat = m.stored.Sub(m.appended)
			}
			mail.outcomes = append(mail.outcomes, outcome{at: m.appended, acked: m.ok && r.add.accepted, n: stored[m.id], latency: lat})
		}
	}
	return ids, mail
}

// deadLetter is one letter of the dead-letter stream.
type deadLetter struct {
	subject, code, remoteID string
}

// checkOrders checks the JetStream side as the operator sees it: no dead
// letter of a valid order, and the order stream still has its three
// replicas. A sync order that reached imap-fetch after the load deleted
// its identity is dead-lettered as unknown_identity: it was valid when the
// scheduler sent it and is void now; so is an identity order redelivered
// after the delete (its first delivery was applied, its connector died
// before the ack). They are counted apart.
func checkOrders(ctx context.Context, t *testing.T, s state, l *load) {
	pw, err := os.ReadFile(s.OperatorPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(s.NATSURL, nats.UserInfo("operator", strings.TrimSpace(string(pw))),
		nats.RootCAs(s.NATSCAFile), nats.CustomInboxPrefix("_INBOX_operator"))
	if err != nil {
		t.Fatalf("connect as the operator: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := js.Stream(ctx, "CALIOPEN_ORDERS_DLQ")
	if err != nil {
		t.Fatalf("dead-letter stream: %v", err)
	}
	info, err := dlq.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var letters []deadLetter
	if info.State.Msgs > 0 {
		cons, err := dlq.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("read the dead letters: %v", err)
		}
		batch, err := cons.Fetch(int(info.State.Msgs), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("read the dead letters: %v", err)
		}
		for m := range batch.Messages() {
			var o struct {
				RemoteID   string `json:"remote_id"`   // sync
				IdentityID string `json:"identity_id"` // identity orders
			}
			_ = json.Unmarshal(m.Data(), &o)
			letters = append(letters, deadLetter{subject: m.Headers().Get("Caliopen-Subject"),
				code: m.Headers().Get("Caliopen-Error-Code"), remoteID: cmp.Or(o.RemoteID, o.IdentityID)})
		}
	}
	deleted := map[string]bool{}
	l.mu.Lock()
	for _, r := range l.remotes {
		if r.del != nil && r.del.accepted {
			deleted[r.id] = true
		}
	}
	l.mu.Unlock()
	var void int
	for _, dl := range letters {
		if (dl.subject == contract.SubjectIMAPFetcher || dl.subject == contract.SubjectIdentitiesWorker) &&
			dl.code == "unknown_identity" && deleted[dl.remoteID] {
			void++
			continue
		}
		t.Errorf("dead letter on %s (%s), remote_id %q: every order of the load was valid", dl.subject, dl.code, dl.remoteID)
	}
	fmt.Printf("chaos: dead letters %d (%d read; orders of an identity deleted meanwhile %d); dead-letter stream replicas %d\n",
		info.State.Msgs, len(letters), void, info.Config.Replicas)
	if uint64(len(letters)) != info.State.Msgs {
		t.Errorf("read %d dead letters of %d", len(letters), info.State.Msgs)
	}
	if info.Config.Replicas != 3 {
		t.Errorf("dead-letter stream at %d replicas, want 3 (STREAM_REPLICAS)", info.Config.Replicas)
	}
}
