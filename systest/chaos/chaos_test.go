package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the cluster's store is PostgreSQL
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/store"
)

// The budget: the cluster's start (its binaries built from a warm cache
// and started: about 100 s on two cores shared with other builds), a
// baseline, six faults of phase each, and the drain: about four minutes,
// under five.
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
	victim func(t *testing.T, c *cluster, s state) string // kills it; returns the process to wait for ("" for none)
}

func kill9(t *testing.T, s state, name string) string {
	t.Helper()
	p, ok := s.proc(name)
	if !ok || p.PID == 0 {
		t.Fatalf("no running process %s", name)
	}
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s (%d): %v", name, p.PID, err)
	}
	return name
}

// TestChaos runs the cluster under a steady load (inbound mail on both
// SMTP listeners, drafts sent through the API to local users, contacts
// created through the API, whose contact_update orders go through the
// JetStream stream) and kills, one at a time: the NATS server leading the
// order stream, a connector, a listener, a scheduler, a function replica
// (inbound-email), and restarts PostgreSQL. Each victim must come back
// (the supervisor starts it again, as Kubernetes would). Then: every mail
// acknowledged with 250 is stored exactly once, every draft whose send was
// accepted reached its recipient exactly once, every contact accepted
// exists once and its order left no dead letter, no request went without
// an answer past its deadline.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole cluster (about four minutes)")
	}
	c := startCluster(t, startTimeout)
	s := c.state(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	db, err := sql.Open("pgx", s.StoreDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := &load{api: s.GatewayURL + "/function/api/api/v2", domain: s.LocalDomain}
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

	loadCtx, stopLoad := context.WithCancel(ctx)
	start := time.Now()
	l.run(loadCtx, mailRate, orderRate)
	time.Sleep(baseline)
	basel := window{start.Add(2 * time.Second), time.Now()}
	// Slow is slower than three times the baseline's p99, at least 2 s: a
	// busy machine's own pace is no fault.
	slow := max(2*time.Second, 3*l.p99(basel))
	t.Logf("baseline: p99 of mail %s; slow above %s", l.p99(basel), slow)

	faults := []fault{
		{"NATS stream leader", func(t *testing.T, c *cluster, s state) string {
			leader, err := streamLeader(ctx, s, "CALIOPEN_ORDERS")
			if err != nil {
				t.Fatal(err)
			}
			return kill9(t, s, leader)
		}},
		{"connector", func(t *testing.T, c *cluster, s state) string { return kill9(t, s, "connector-0") }},
		{"SMTP listener", func(t *testing.T, c *cluster, s state) string { return kill9(t, s, "smtp-listener-0") }},
		{"scheduler", func(t *testing.T, c *cluster, s state) string { return kill9(t, s, "scheduler-0") }},
		{"function replica", func(t *testing.T, c *cluster, s state) string { return kill9(t, s, "fn-inbound-email-0") }},
		{"PostgreSQL restart", func(t *testing.T, c *cluster, s state) string { c.restartPostgres(t); return "" }},
	}
	type result struct {
		name     string
		w        window
		back     time.Duration
		recovery time.Duration
	}
	var results []result
	for _, f := range faults {
		s := c.state(t)
		at := time.Now()
		victim := f.victim(t, c, s)
		var back time.Duration
		if victim != "" {
			p, _ := s.proc(victim)
			back = c.waitBack(t, victim, p.Starts, 2*phase).Sub(at)
		}
		if rest := phase - time.Since(at); rest > 0 {
			time.Sleep(rest)
		}
		w := window{at, time.Now()}
		results = append(results, result{name: f.name + " " + victim, w: w, back: back, recovery: l.recovery(w, slow)})
	}
	stopLoad()
	l.wait()

	// Every acked mail and accepted order must land; give them time.
	var stored map[string]int
	deadline := time.Now().Add(drainTimeout)
	for {
		stored, err = storedMails(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if done(l, stored) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
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

	fmt.Printf("chaos: %d mails, %d orders; load %.0f mails/s and %.0f drafts + %.0f contacts/s; slow above %s\n",
		len(l.mails), len(l.orders), mailRate, orderRate, orderRate, slow)
	fmt.Printf("%-40s %6s %5s %7s %10s %12s %10s\n", "fault", "acked", "lost", "doubled", "back (s)", "recovery (s)", "p99 (s)")
	all := append([]result{{name: "baseline", w: basel}}, results...)
	var lostAll, doubledAll int
	for _, r := range all {
		acked, lost, doubled := 0, 0, 0
		l.mu.Lock()
		for _, m := range l.mails {
			if !r.w.has(m.start) {
				continue
			}
			n := stored[m.id]
			if m.acked {
				acked++
				if n == 0 {
					lost++
				}
			}
			if n > 1 {
				doubled++
			}
		}
		l.mu.Unlock()
		lostAll += lost
		doubledAll += doubled
		fmt.Printf("%-40s %6d %5d %7d %10.1f %12.1f %10.2f\n", r.name, acked, lost, doubled,
			r.back.Seconds(), r.recovery.Seconds(), l.p99(r.w).Seconds())
		if r.name != "baseline" && r.recovery > recoveryTarget+slow {
			t.Errorf("%s: full throughput again after %.1f s, above the target of %s (+ the machine's slow %s)",
				r.name, r.recovery.Seconds(), recoveryTarget, slow)
		}
	}
	if lostAll > 0 || doubledAll > 0 {
		t.Errorf("mails: %d acked with 250 but not stored, %d stored more than once", lostAll, doubledAll)
	}
	var sends, sendsAccepted, contactsAccepted int
	for _, o := range l.orders {
		switch {
		case o.kind == "send":
			sends++
			n := received[o.key+"|"+o.to]
			if o.accepted {
				sendsAccepted++
				if n != 1 {
					t.Errorf("draft %q: send accepted, received %d times", o.key, n)
				}
			} else if n > 1 {
				t.Errorf("draft %q: send not accepted, received %d times", o.key, n)
			}
		case o.kind == "contact" && o.accepted:
			contactsAccepted++
			if n := contacts[o.key]; n != 1 {
				t.Errorf("contact %q: accepted, stored %d times", o.key, n)
			}
		}
	}
	fmt.Printf("chaos: drafts sent %d, accepted %d; contacts accepted %d\n", sends, sendsAccepted, contactsAccepted)
	if n := l.unanswered(); n > 0 {
		t.Errorf("%d requests got no answer before their deadline", n)
	}
	if sendsAccepted == 0 || contactsAccepted == 0 {
		t.Errorf("no order accepted at all (drafts %d, contacts %d): the load did not run", sendsAccepted, contactsAccepted)
	}
	checkOrders(ctx, t, s)
}

// done says whether every acked mail is stored.
func done(l *load, stored map[string]int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.mails {
		if m.acked && stored[m.id] == 0 {
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

// checkOrders checks the JetStream side as the operator sees it: no dead
// letter (every order was valid), and the order stream still has its three
// replicas.
func checkOrders(ctx context.Context, t *testing.T, s state) {
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
	fmt.Printf("chaos: dead letters %d; dead-letter stream replicas %d\n", info.State.Msgs, info.Config.Replicas)
	if info.State.Msgs != 0 {
		t.Errorf("%d orders dead-lettered; every order of the load was valid", info.State.Msgs)
	}
	if info.Config.Replicas != 3 {
		t.Errorf("dead-letter stream at %d replicas, want 3 (STREAM_REPLICAS)", info.Config.Replicas)
	}
}
