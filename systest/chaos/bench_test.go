package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caliopen/functions/system/systemtest"
)

// The inbound benchmark's size: mails per target, parallel SMTP sessions.
const (
	benchMails    = 600
	benchSessions = 8
)

// BenchmarkInboundClusterVsLocal sends the same inbound mail, from the same
// SMTP client, into the one-process local system (system/systemtest, its
// SMTP listener) and into the cluster of `make cluster` (both listeners,
// in turn), and prints each one's throughput: mails acknowledged with 250
// a second, counted once all of them are stored. Run once (-benchtime=1x):
// make bench does.
func BenchmarkInboundClusterVsLocal(b *testing.B) {
	ctx := context.Background()
	var local, cluster float64
	for b.Loop() {
		local = benchLocal(b, ctx)
		cluster = benchCluster(b, ctx)
	}
	fmt.Printf("inbound mail, %d mails of %d sessions: local system %.0f mails/s; cluster (3 NATS, 2 listeners, 2 connectors, 2 inbound-email replicas, PostgreSQL, versitygw) %.0f mails/s, %.0f %% of the local\n",
		benchMails, benchSessions, local, cluster, 100*cluster/local)
	b.ReportMetric(local, "local-mails/s")
	b.ReportMetric(cluster, "cluster-mails/s")
}

func benchLocal(b *testing.B, ctx context.Context) float64 {
	dir := b.TempDir()
	s, err := systemtest.Start(ctx, systemtest.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	uid, _, err := s.AddLocalUser(ctx, "bench", "bench@"+systemtest.LocalDomain)
	if err != nil {
		b.Fatal(err)
	}
	rate := pump(b, []string{s.SMTPAddr}, "bench@"+systemtest.LocalDomain, func() int {
		n, err := s.CountMessages(ctx, uid)
		if err != nil {
			b.Fatal(err)
		}
		return n
	})
	return rate
}

func benchCluster(b *testing.B, ctx context.Context) float64 {
	c := startCluster(b, startTimeout)
	s := c.state(b)
	if err := createUser(ctx, s, "bench"); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("pgx", s.StoreDSN)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var addrs []string
	for _, p := range s.kind("smtp-listener") {
		addrs = append(addrs, p.Addrs["smtp_listen"])
	}
	return pump(b, addrs, "bench@"+s.LocalDomain, func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id WHERE u.name = 'bench'`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	})
}

// pump sends benchMails over benchSessions sessions spread on addrs, waits
// until stored() counts them all, and returns mails a second over the
// whole (first MAIL to the last one stored).
func pump(b *testing.B, addrs []string, to string, stored func() int) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range benchSessions {
		wg.Go(func() {
			addr := addrs[i%len(addrs)]
			var c *smtp.Client
			for {
				n := next.Add(1)
				if n > benchMails {
					break
				}
				for try := 0; ; try++ {
					if c == nil {
						if c, _ = dialSMTP(addr); c == nil {
							time.Sleep(100 * time.Millisecond)
							continue
						}
					}
					if err := sendOn(c, to, fmt.Sprintf("bench-%d-%d@bench.test", start.UnixNano(), n)); err != nil {
						c.Close()
						c = nil
						if try > 20 {
							b.Errorf("mail %d: %v", n, err)
							break
						}
						continue
					}
					break
				}
			}
			if c != nil {
				_ = c.Quit()
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(2 * time.Minute)
	for stored() < benchMails {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d mails stored after two minutes", stored(), benchMails)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return benchMails / time.Since(start).Seconds()
}

func dialSMTP(addr string) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c, err := smtp.NewClient(conn, "localhost")
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.Hello("bench.test"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func sendOn(c *smtp.Client, to, id string) error {
	if err := c.Mail("sender@bench.test"); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	body := fmt.Sprintf("From: <sender@bench.test>\r\nTo: <%s>\r\nSubject: bench\r\nMessage-ID: <%s>\r\n\r\n%s\r\n", to, id, pad)
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	return w.Close()
}

// pad makes a mail of about 4 KB, as cmd/bench-inbound sends.
var pad = func() string {
	b := make([]byte, 0, 4096)
	for len(b) < 4000 {
		b = append(b, "a line of the benchmark's mail, as plain as mail gets\r\n"...)
	}
	return string(b)
}()
