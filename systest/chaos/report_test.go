package chaos

import (
	"fmt"
	"slices"
	"time"
)

// outcome is one thing the load asked for, as a check sees it.
type outcome struct {
	at      time.Time // when it was asked: the fault it belongs to
	acked   bool      // the system acknowledged it (250, an accepted order, an appended message)
	n       int       // how many times it took effect (stored, received, applied)
	latency time.Duration
}

// check is one of the test's checks: what it counts, the attempts whose
// failures and slowness make its recovery.
type check struct {
	name     string
	kinds    []string
	outcomes []outcome
}

// faultRow is one line of the tables: a fault's window.
type faultRow struct {
	name string
	w    window
	back time.Duration
}

// table prints c per fault: acked, lost (acked, no effect), doubled (more
// than one effect), when the victim was back, the recovery of c's own
// requests, and the p99 of c's latency during the fault. It returns the
// lost and doubled of every row.
func (l *load) table(c check, rows []faultRow, slow time.Duration) (lost, doubled int) {
	fmt.Printf("\n%s\n", c.name)
	fmt.Printf("%-40s %6s %5s %7s %10s %12s %10s\n", "fault", "acked", "lost", "doubled", "back (s)", "recovery (s)", "p99 (s)")
	for _, r := range rows {
		acked, lo, do := 0, 0, 0
		var lat []time.Duration
		for _, o := range c.outcomes {
			if !r.w.has(o.at) {
				continue
			}
			if o.acked {
				acked++
				lat = append(lat, o.latency)
				if o.n == 0 {
					lo++
				}
			}
			if o.n > 1 {
				do++
			}
		}
		lost += lo
		doubled += do
		fmt.Printf("%-40s %6d %5d %7d %10.1f %12.1f %10.2f\n", r.name, acked, lo, do,
			r.back.Seconds(), l.recovery(r.w, slow, c.kinds...).Seconds(), p99(lat).Seconds())
	}
	return lost, doubled
}

func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, len(lat)*99/100)]
}

// syncTable prints per fault the sync orders seen, those that doubled a
// due run, and the IMAP sessions of imap-fetch, those that ran while
// another of the same account was open; it returns the doubled and
// concurrent ones of every row.
func syncTable(rows []faultRow, syncs []syncOrder, sess []session) (doubled, concurrent int) {
	fmt.Printf("\nsyncs (orders on IMAPfetcher; imap-fetch's sessions in Dovecot's log, to the second)\n")
	fmt.Printf("%-40s %6s %7s %9s %10s\n", "fault", "syncs", "doubled", "sessions", "concurrent")
	for _, r := range rows {
		n, d, s, c := 0, 0, 0, 0
		for _, o := range syncs {
			if r.w.has(o.at) {
				n++
				if o.doubled {
					d++
				}
			}
		}
		// The log's times are whole seconds: a session belongs to the
		// window its second starts in.
		sw := window{r.w.from.Truncate(time.Second), r.w.to.Truncate(time.Second)}
		for _, x := range sess {
			if sw.has(x.at) {
				s++
				if x.overlaps {
					c++
				}
			}
		}
		doubled += d
		concurrent += c
		fmt.Printf("%-40s %6d %7d %9d %10d\n", r.name, n, d, s, c)
	}
	return doubled, concurrent
}
