package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkClaimDue claims 500 due runs a call among 5,000 schedules, as a
// scheduler's batch does (the runs stay due, moved by a microsecond); the
// figure to read is ns/claim.
func BenchmarkClaimDue(b *testing.B) {
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "claim.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	u, err := s.CreateUser(ctx, User{Name: "u", PasswordHash: "x"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 5000 {
		id, err := s.CreateIdentity(ctx, Identity{UserID: u.ID, Type: RemoteIdentity, Protocol: ProtocolEmail,
			Identifier: fmt.Sprintf("id%d@r.example", i), PollInterval: 15 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.SetNextRun(ctx, u.ID, id.ID, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
	now := t0.Add(time.Hour)
	next := func(_ int, d Due) time.Time { return d.NextRun.Add(time.Microsecond) }
	claimed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		claims, won, err := s.ClaimDue(ctx, now, 500, next)
		if err != nil {
			b.Fatal(err)
		}
		for i := range claims {
			if !won[i] {
				b.Fatalf("claim %d lost", i)
			}
		}
		claimed += len(claims)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(claimed), "ns/claim")
}
