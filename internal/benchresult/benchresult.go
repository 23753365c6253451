// Package benchresult records what the benchmark commands measure: each
// command appends its figures (each beside its baseline from the same run,
// and their ratio) to a file of JSON lines; cmd/bench-record gathers them
// into one result per run under bench-results/, compares each ratio with
// the previous result and writes docs/benchmarks.md's tables from the
// latest one.
package benchresult

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Figure is one measured figure beside its baseline.
type Figure struct {
	// Key names the figure across runs ("imap/full-sync"): a
	// regression is found by comparing the ratios of equal keys.
	Key string `json:"key"`
	// Title says what was measured, as the page shows it.
	Title string  `json:"title"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Baseline says what the figure is compared with, measured in the same
	// run; BaselineValue is its reading, in Unit.
	Baseline      string  `json:"baseline"`
	BaselineValue float64 `json:"baseline_value"`
	// Ratio is how many times better than the baseline the figure is:
	// above 1 is better, whichever way Unit counts.
	Ratio float64 `json:"ratio"`
	// Target is the ratio aimed at, or 0.
	Target float64 `json:"target,omitempty"`
	// Extra holds readings of the run beside the figure that another
	// command compares with (the IMAP path's CPU a message), by name.
	Extra map[string]float64 `json:"extra,omitempty"`
}

// The figure one command records and another compares with.
const (
	// IMAPFullSync is cmd/bench-imap's figure; its Extra holds
	// CPUPerMessage, which cmd/bench-twitter compares a DM's CPU with.
	IMAPFullSync = "imap/full-sync"
	// CPUPerMessage is the CPU a message in milliseconds.
	CPUPerMessage = "cpu_ms_per_message"
)

// Higher makes the figure of a measure where more is better (a rate):
// the ratio is value / baseline.
func Higher(key, title string, value, baseline float64, unit, baselineName string) Figure {
	return Figure{Key: key, Title: title, Value: value, Unit: unit, Baseline: baselineName, BaselineValue: baseline,
		Ratio: value / baseline}
}

// Lower makes the figure of a measure where less is better (a time, a
// cost): the ratio is baseline / value.
func Lower(key, title string, value, baseline float64, unit, baselineName string) Figure {
	return Figure{Key: key, Title: title, Value: value, Unit: unit, Baseline: baselineName, BaselineValue: baseline,
		Ratio: baseline / value}
}

// WithTarget returns f with the ratio aimed at.
func (f Figure) WithTarget(ratio float64) Figure { f.Target = ratio; return f }

func (f Figure) check() error {
	if f.Key == "" || f.Title == "" || f.Baseline == "" {
		return fmt.Errorf("figure %q: key, title and baseline are required", f.Key)
	}
	for _, x := range []float64{f.Value, f.BaselineValue, f.Ratio} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("figure %q: value %v, baseline %v, ratio %v: not a number", f.Key, f.Value, f.BaselineValue, f.Ratio)
		}
	}
	return nil
}

// Append adds figs to the file at path, one JSON object a line. An empty
// path records nothing (a command run by hand).
func Append(path string, figs ...Figure) error {
	if path == "" {
		return nil
	}
	var buf bytes.Buffer
	for _, f := range figs {
		if err := f.check(); err != nil {
			return err
		}
		b, _ := json.Marshal(f) // plain fields: cannot fail
		buf.Write(append(b, '\n'))
	}
	file, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("bench figures: %w", err)
	}
	if _, err := file.Write(buf.Bytes()); err != nil {
		file.Close()
		return fmt.Errorf("bench figures: %w", err)
	}
	return file.Close()
}

// ReadFigures reads a file written by Append.
func ReadFigures(path string) ([]Figure, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench figures: %w", err)
	}
	var figs []Figure
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var f Figure
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		figs = append(figs, f)
	}
	return figs, sc.Err()
}

// Find returns the figure of key in the file at path; a missing figure is an error
// that names the file, so that a comparison never quietly disappears.
func Find(path, key string) (Figure, error) {
	figs, err := ReadFigures(path)
	if err != nil {
		return Figure{}, err
	}
	for _, f := range figs {
		if f.Key == key {
			return f, nil
		}
	}
	return Figure{}, fmt.Errorf("%s holds no figure %q: did the command that measures it run first?", path, key)
}

// Result is one run of `make bench`.
type Result struct {
	Commit    string `json:"commit"`
	Date      string `json:"date"` // RFC 3339, UTC
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	// Partial says that only some of the benchmarks ran (Note says which).
	Partial bool     `json:"partial,omitempty"`
	Note    string   `json:"note,omitempty"`
	Figures []Figure `json:"figures"`
}

// FileName is the result's file name: its date and commit, so that names
// sort by date.
func (r Result) FileName() string {
	date := strings.NewReplacer(":", "", "-", "").Replace(r.Date)
	return fmt.Sprintf("%s-%s.json", date, r.Commit)
}

// Write stores r as a file in dir and returns its path.
func Write(dir string, r Result) (string, error) {
	if len(r.Figures) == 0 {
		return "", errors.New("bench result: no figures")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.FileName())
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

// Latest reads the newest result in dir, skipping the file named skip
// (the run being recorded); ok is false when there is none.
func Latest(dir, skip string) (r Result, name string, ok bool, err error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return Result{}, "", false, err
	}
	slices.Sort(names)
	for i := len(names) - 1; i >= 0; i-- {
		if filepath.Base(names[i]) == skip {
			continue
		}
		b, err := os.ReadFile(names[i])
		if err != nil {
			return Result{}, "", false, err
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return Result{}, "", false, fmt.Errorf("%s: %w", names[i], err)
		}
		return r, filepath.Base(names[i]), true, nil
	}
	return Result{}, "", false, nil
}

// Prior is a key's figure in the newest recorded result that holds it.
type Prior struct {
	Figure
	File, Commit string
}

// Priors reads the results in dir but the file named skip and returns,
// for each key, its figure in the newest result holding it: a partial run
// compares with the last run of each of its paths.
func Priors(dir, skip string) (map[string]Prior, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	priors := map[string]Prior{}
	for i := len(names) - 1; i >= 0; i-- {
		if filepath.Base(names[i]) == skip {
			continue
		}
		b, err := os.ReadFile(names[i])
		if err != nil {
			return nil, err
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", names[i], err)
		}
		for _, f := range r.Figures {
			if _, ok := priors[f.Key]; !ok {
				priors[f.Key] = Prior{Figure: f, File: filepath.Base(names[i]), Commit: r.Commit}
			}
		}
	}
	return priors, nil
}

// RegressionDrop is how far a ratio may fall below the previous run's
// before it is called a regression.
const RegressionDrop = 0.15

// Regressed says whether cur's ratio fell by more than RegressionDrop
// from prev's.
func Regressed(prev, cur Figure) bool {
	return prev.Ratio > 0 && cur.Ratio < prev.Ratio*(1-RegressionDrop)
}

// ByKey indexes figs by key.
func ByKey(figs []Figure) map[string]Figure {
	m := make(map[string]Figure, len(figs))
	for _, f := range figs {
		m[f.Key] = f
	}
	return m
}

// Slug makes a key part of a name: lower case, runs of anything but
// letters and digits as one dash.
func Slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	return b.String()
}
