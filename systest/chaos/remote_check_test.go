package chaos

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// TestSessionsOverlap shows that the check of concurrent syncs can fail:
// on the real Dovecot, a session that logs in while another of the same
// user is open is found; one after the other, or of another user, or from
// the test's own address, is not.
func TestSessionsOverlap(t *testing.T) {
	d := startDovecot(t)
	for _, u := range []string{"alice", "bob"} {
		if err := d.addUser(u, "pw-"+u); err != nil {
			t.Fatal(err)
		}
	}
	login := func(user string) *imapclient.Client {
		t.Helper()
		var err error
		for try := 0; try < 50; try++ {
			var conn net.Conn
			if conn, err = net.DialTimeout("tcp", d.addr, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			c := imapclient.New(conn, nil)
			if err = c.Login(user, "pw-"+user).Wait(); err == nil {
				return c
			}
			c.Close()
			time.Sleep(100 * time.Millisecond) // a fresh Dovecot's auth process
		}
		t.Fatalf("login %s: %v", user, err)
		return nil
	}
	logout := func(c *imapclient.Client) {
		t.Helper()
		if err := c.Logout().Wait(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if err := d.appendMsgs("alice", "pw-alice", []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	a1 := login("alice")
	b1 := login("bob")
	a2 := login("alice") // alice again, a1 still open: concurrent
	logout(a1)
	logout(a2)
	logout(b1)
	a3 := login("alice") // after both ended
	logout(a3)

	want := []session{{user: "alice"}, {user: "bob"}, {user: "alice", overlaps: true}, {user: "alice"}}
	var got []session
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		log, err := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
		if err != nil {
			t.Fatal(err)
		}
		if got = sessions(log, "127.0.0.1", time.Now().Year()); len(got) >= len(want) && bytes.Count(log, []byte("Logged out")) >= 5 {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("sessions %+v, want %d", got, len(want))
	}
	for i := range want {
		if got[i].user != want[i].user || got[i].overlaps != want[i].overlaps {
			t.Errorf("session %d: %s overlaps %v, want %s %v", i, got[i].user, got[i].overlaps, want[i].user, want[i].overlaps)
		}
		if time.Since(got[i].at) > time.Minute || time.Since(got[i].at) < -time.Minute {
			t.Errorf("session %d at %s: the log's time misread", i, got[i].at)
		}
	}
}

// TestMarkDoubled: a due run sent twice shows; runs a poll interval or a
// retry apart, and other identities' runs, do not.
func TestMarkDoubled(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name string
		in   []syncOrder
		want []bool // doubled, in time order
	}{
		{"one identity, a poll apart", []syncOrder{{identity: "a", at: at(0)}, {identity: "a", at: at(57)}}, []bool{false, false}},
		{"a retry after a failed send", []syncOrder{{identity: "a", at: at(0)}, {identity: "a", at: at(30)}}, []bool{false, false}},
		{"claimed twice", []syncOrder{{identity: "a", at: at(0)}, {identity: "a", at: at(0.2)}}, []bool{false, true}},
		{"two identities at once", []syncOrder{{identity: "a", at: at(0)}, {identity: "b", at: at(0.1)}}, []bool{false, false}},
		{"out of order", []syncOrder{{identity: "a", at: at(60)}, {identity: "a", at: at(0)}, {identity: "a", at: at(61)}},
			[]bool{false, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := markDoubled(tc.in, syncMinGap)
			for i, o := range got {
				if o.doubled != tc.want[i] {
					t.Errorf("order %d (%s at %s): doubled %v, want %v", i, o.identity, o.at.Sub(t0), o.doubled, tc.want[i])
				}
			}
		})
	}
}
