package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/imapsync/imaptest"
	"github.com/caliopen/functions/internal/store"
)

// TestNestingBombLeavesNoWork: a 1.4 KB mail of 25 nested multiparts
// (enmime's parse time doubles with each level) is refused for good over
// SMTP (5xx, so the sending MTA does not retry) and, fetched over IMAP,
// skipped once (the cursor moves past it: a second sync does not ask for
// it again, the account records no failure); afterwards the process is
// back to its goroutines and burns no CPU.
func TestNestingBombLeavesNoWork(t *testing.T) {
	bomb, err := os.ReadFile("../../internal/inbound/testdata/hostile/nesting-bomb-25.eml")
	if err != nil {
		t.Fatal(err)
	}
	api, nc, smtpAddr := localSystemSMTP(t)
	admin := login(t, api, "admin", "admin-password-1")
	admin.must(201, "POST", "/admin/users", map[string]any{"name": "hana", "password": "hana-password-1"})
	hana := login(t, api, "hana", "hana-password-1")
	ordinary := func(subject string) []byte {
		return fmt.Appendf(nil, "From: ivan@example.org\r\nTo: hana@caliopen.local\r\nSubject: %s\r\n"+
			"Message-ID: <%s@example.org>\r\n\r\nHello.\r\n", subject, subject)
	}

	mem := imaptest.StartMem(t, imaptest.MemOptions{})
	c, err := imaptest.Dial(mem.Addr, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Append(ordinary("imap-before")); err != nil {
		t.Fatal(err)
	}
	remote := hana.must(201, "POST", "/identities/remotes", map[string]any{"protocol": "email",
		"identifier": "hana@remote.example", "infos": map[string]string{"inserver": mem.Addr, "intls": "none"},
		"credentials": map[string]string{"inusername": "alice", "inpassword": "pw"}})
	remoteID, _ := remote["identity_id"].(string)
	userID, _ := remote["user_id"].(string)
	waitSubjects(t, hana, "imap-before")
	if err := sendMail(smtpAddr, "hana@caliopen.local", string(ordinary("smtp-before"))); err != nil {
		t.Fatalf("ordinary mail: %v", err)
	}
	base := settledGoroutines(0)

	var mu sync.Mutex
	asked := map[string]int{} // raw id → process_inbound requests
	sub, err := nc.Subscribe(contract.SubjectInboundSMTP, func(m *nats.Msg) {
		var o contract.DeliverOrder
		if json.Unmarshal(m.Data, &o) == nil {
			mu.Lock()
			asked[o.MessageID]++
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	err = sendMail(smtpAddr, "hana@caliopen.local", string(bomb))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code/100 != 5 {
		t.Fatalf("nesting bomb over SMTP: %v, want a permanent (5xx) refusal", err)
	}

	if err := c.Append(bomb, ordinary("imap-after")); err != nil {
		t.Fatal(err)
	}
	syncNow := func() {
		b, _ := json.Marshal(contract.RemoteOrder{Order: contract.OrderSync, RemoteID: remoteID, UserID: userID})
		if err := nc.Publish(contract.SubjectIMAPFetcher, b); err != nil {
			t.Fatal(err)
		}
	}
	syncNow()
	waitSubjects(t, hana, "imap-after")
	before := lastSync(t, hana, remoteID)
	syncNow()
	for deadline := time.Now().Add(20 * time.Second); lastSync(t, hana, remoteID).Equal(before); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second sync did not run")
		}
	}
	id := store.RawID(bomb)
	mu.Lock()
	n := asked[id]
	mu.Unlock()
	if n != 2 { // once over SMTP, once over IMAP
		t.Errorf("the bomb was processed %d times, want twice (once a path)", n)
	}
	if s := hana.must(200, "GET", "/identities/remotes/"+remoteID, nil)["sync"].(map[string]any); s["error_count"] != float64(0) {
		t.Errorf("remote account's sync %v, want no failure", s)
	}

	if got := settledGoroutines(base + 5); got > base+5 {
		t.Errorf("%d goroutines after the bombs, %d before", got, base)
	}
	if used := cpuDuring(time.Second); used > 300*time.Millisecond {
		t.Errorf("the idle process used %v of CPU in a second", used)
	}
}

// waitSubjects waits until the user's messages show subject.
func waitSubjects(t *testing.T, c client, subject string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if strings.Contains(fmt.Sprint(c.must(200, "GET", "/messages?limit=100", nil)["messages"]), subject) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message %q after 30 s", subject)
		}
	}
}

// lastSync is when the remote identity was last synced.
func lastSync(t *testing.T, c client, id string) time.Time {
	t.Helper()
	s, _ := c.must(200, "GET", "/identities/remotes/"+id, nil)["sync"].(map[string]any)
	at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(s["last_sync"]))
	return at
}

// settledGoroutines waits up to 10 s for the goroutine count to fall to
// want or below (0: to stop falling) and returns it.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		m := runtime.NumGoroutine()
		if (want > 0 && m <= want) || (want == 0 && m >= n) {
			return m
		}
		n = m
	}
	return n
}

// cpuDuring is the CPU time the process uses during d.
func cpuDuring(d time.Duration) time.Duration {
	used := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := used()
	time.Sleep(d)
	return used() - start
}
