package schedule

import (
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestSubjectFor(t *testing.T) {
	for _, tc := range []struct {
		protocol, subject string
		ok                bool
	}{
		{"email", contract.SubjectIMAPFetcher, true},
		{"imap", contract.SubjectIMAPFetcher, true},
		{"twitter", contract.SubjectTwitterDM, true},
		{"smtp", "", false},
		{"mastodon", contract.SubjectMastodonDM, true},
		{"", "", false},
	} {
		if s, ok := SubjectFor(tc.protocol); s != tc.subject || ok != tc.ok {
			t.Errorf("SubjectFor(%q) = %q, %v; want %q, %v", tc.protocol, s, ok, tc.subject, tc.ok)
		}
	}
}

func TestCheckMinutes(t *testing.T) {
	for m, ok := range map[int]bool{-1: false, 0: false, 1: true, 15: true, 1440: true, 1441: false} {
		if err := CheckMinutes(m); (err == nil) != ok {
			t.Errorf("CheckMinutes(%d) = %v", m, err)
		}
	}
}

func TestInterval(t *testing.T) {
	p := DefaultPolicy()
	for _, tc := range []struct {
		protocol string
		own      time.Duration
		want     time.Duration
	}{
		{"email", 0, 15 * time.Minute},
		{"imap", 0, 15 * time.Minute},
		{"twitter", 0, 2 * time.Minute},
		{"email", 3 * time.Minute, 3 * time.Minute},
		{"twitter", time.Hour, time.Hour},
	} {
		if got := p.Interval(tc.protocol, tc.own); got != tc.want {
			t.Errorf("Interval(%q, %s) = %s, want %s", tc.protocol, tc.own, got, tc.want)
		}
	}
}

func TestNextJitter(t *testing.T) {
	p := DefaultPolicy() // ±10 %
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{
		{0, 9 * time.Minute},
		{0.5, 10 * time.Minute},
		{0.75, 10*time.Minute + 30*time.Second},
		{0.999999, 11 * time.Minute},
	} {
		got := p.Next(t0, 10*time.Minute, tc.r).Sub(t0)
		if d := got - tc.want; d > time.Millisecond || d < -time.Millisecond {
			t.Errorf("Next(r=%g) = +%s, want +%s", tc.r, got, tc.want)
		}
	}
	p.Jitter = 0
	if got := p.Next(t0, time.Minute, 0.9); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("Next without jitter = %v", got)
	}
}

func TestDecide(t *testing.T) {
	p := DefaultPolicy() // grace 30 s, spread 5 min
	for _, tc := range []struct {
		name     string
		late     time.Duration
		interval time.Duration
		r        float64
		fire     bool
		next     time.Duration // from t0
	}{
		{"on time", 0, 15 * time.Minute, 0.5, true, 15 * time.Minute},
		{"within grace", 30 * time.Second, 15 * time.Minute, 0.5, true, 15 * time.Minute},
		{"overdue spread", time.Hour, 15 * time.Minute, 0.5, false, 150 * time.Second},
		{"overdue at start of window", time.Hour, 15 * time.Minute, 0, false, 0},
		{"overdue short interval", time.Hour, 2 * time.Minute, 0.5, false, time.Minute},
	} {
		d := p.Decide(t0, t0.Add(-tc.late), tc.interval, tc.r)
		if d.Fire != tc.fire || !d.Next.Equal(t0.Add(tc.next)) {
			t.Errorf("%s: Decide = %+v, want fire %v next +%s", tc.name, d, tc.fire, tc.next)
		}
	}
}

// TestDecideSpreadsABacklog checks that 10,000 runs overdue by an hour
// fire at no more than a few per second once spread.
func TestDecideSpreadsABacklog(t *testing.T) {
	p := DefaultPolicy()
	perSecond := map[int64]int{}
	for i := range 10000 {
		d := p.Decide(t0, t0.Add(-time.Hour), 15*time.Minute, float64(i)/10000)
		if d.Fire {
			t.Fatal("an overdue run fired")
		}
		perSecond[d.Next.Unix()]++
	}
	for s, n := range perSecond {
		if n > 10000/int(p.Spread/time.Second)+1 {
			t.Fatalf("%d runs at %d", n, s)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {10, time.Minute}, {100, time.Minute}} {
		if got := Backoff(time.Second, time.Minute, tc.n); got != tc.want {
			t.Errorf("Backoff(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Policy{Jitter: 1}.Validate()
	if err == nil {
		t.Fatal("zero policy accepted")
	}
	for _, want := range []string{"intervals", "jitter", "grace", "spread"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}
