package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/benchresult"
)

var update = flag.Bool("update", false, "rewrite docs/benchmarks.md's tables from the latest result")

// TestPage checks that docs/benchmarks.md's tables are those of the latest
// result in bench-results (go test ./cmd/bench-record -update rewrites
// them).
func TestPage(t *testing.T) {
	root := filepath.Join("..", "..")
	dir := filepath.Join(root, "bench-results")
	r, name, ok, err := benchresult.Latest(dir, "")
	if err != nil || !ok {
		t.Fatalf("no result in %s: %v", dir, err)
	}
	page := filepath.Join(root, "docs", "benchmarks.md")
	if *update {
		if err := updatePage(page, r, name); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	want, err := replaceGenerated(b, render(r, name))
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(b) {
		t.Errorf("%s's tables are not those of bench-results/%s: run go test ./cmd/bench-record -update", page, name)
	}
}

func TestRender(t *testing.T) {
	r := benchresult.Result{Commit: "abc", Date: "2026-12-07T21:00:00Z", CPU: "a CPU", Cores: 2, GoVersion: "go1.26.8", Figures: []benchresult.Figure{
		benchresult.Higher("imap/full-sync", "full sync", 2100, 1400, "msg/s", "mbsync").WithTarget(1.5),
		benchresult.Lower("keys/one-at-a-time", "one at a time", 1.5, 45, "ms", "GnuPG"),
	}}
	got := render(r, "x.json")
	for _, want := range []string{"commit `abc`", "| full sync | 2,100 msg/s | mbsync: 1,400 msg/s | **1.50 ×** | ≥ 1.50 |",
		"| one at a time | 1.50 ms | GnuPG: 45.0 ms | **30.0 ×** | – |", "| keys | figure"} {
		if !strings.Contains(got, want) {
			t.Errorf("render lacks %q:\n%s", want, got)
		}
	}
}

func TestRegressed(t *testing.T) {
	for _, tc := range []struct {
		prev, cur float64
		want      bool
	}{{1.0, 0.86, false}, {1.0, 0.84, true}, {2.0, 3.0, false}, {0, 1, false}} {
		if got := benchresult.Regressed(benchresult.Figure{Ratio: tc.prev}, benchresult.Figure{Ratio: tc.cur}); got != tc.want {
			t.Errorf("Regressed(%v, %v) = %v", tc.prev, tc.cur, got)
		}
	}
}

func TestCompare(t *testing.T) {
	priors := map[string]benchresult.Prior{"a/x": {Figure: benchresult.Figure{Key: "a/x", Ratio: 2}, Commit: "old"},
		"a/y": {Figure: benchresult.Figure{Key: "a/y", Ratio: 1}, Commit: "older"}}
	cur := benchresult.Result{Commit: "new", Figures: []benchresult.Figure{{Key: "a/x", Ratio: 1.6}, {Key: "a/y", Ratio: 0.9}, {Key: "a/z", Ratio: 1}}}
	var b strings.Builder
	compare(&b, priors, cur)
	got := b.String()
	lines := strings.Split(got, "\n")
	var x, y string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "a/x"):
			x = l
		case strings.HasPrefix(l, "a/y"):
			y = l
		}
	}
	if !strings.Contains(x, "REGRESSED (-20 %)") || strings.Contains(y, "REGRESSED") || !strings.Contains(got, "1 ratios REGRESSED") {
		t.Errorf("a/x fell by 20 %% (flagged), a/y by 10 %% (not):\n%s", got)
	}
}
