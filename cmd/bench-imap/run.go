package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	imapfetch "github.com/caliopen/functions/functions/imap-fetch"
	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/procs"
)

// options are the command's flags.
type options struct {
	mails, size     int
	batch, inFlight int
	scripts         string // scripts/test-peers
	cpuprofile      string // profile of imap-fetch's sync
	figures         string // benchresult's file
	mbsync          bool   // run the baselines
	rounds          int    // imap-fetch runs, each between two mbsync runs
}

// row is one measured client.
type row struct {
	name    string
	mails   int
	elapsed time.Duration
	checked string
	fsyncOn bool    // an mbsync run with FSync on
	cpuMS   float64 // imap-fetch's CPU a message, in milliseconds
}

func (r row) rate() float64 { return float64(r.mails) / r.elapsed.Seconds() }

// run parses flags, starts Dovecot, loads it, measures and prints.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-imap", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.mails, "mails", 2000, "messages in the mailbox")
	fs.IntVar(&o.size, "size", 4096, "message size in bytes")
	fs.IntVar(&o.batch, "batch", imapfetch.DefaultConfig().Batch, "imap-fetch batch (IMAP_FETCH_BATCH)")
	fs.IntVar(&o.inFlight, "inflight", imapfetch.DefaultConfig().InFlight, "imap-fetch messages in flight (IMAP_FETCH_IN_FLIGHT)")
	fs.StringVar(&o.scripts, "scripts", "scripts/test-peers", "folder of the peer scripts")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of imap-fetch's sync to this file")
	fs.StringVar(&o.figures, "figures", "", "append the figures, each with its baseline and ratio, to this file (package benchresult)")
	fs.IntVar(&o.rounds, "rounds", 3, "imap-fetch runs, each into a fresh store and between two runs of mbsync with FSync on")
	fs.BoolVar(&o.mbsync, "mbsync", true, "run the mbsync baselines (false: imap-fetch alone, to profile or compare builds)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.mails <= 0 || o.size < 512 || o.batch <= 0 || o.inFlight <= 0 || o.rounds <= 0 {
		return errors.New("-mails, -batch, -inflight and -rounds must be positive and -size at least 512")
	}
	gomaxprocs, gogc := procs.ForFileIO(os.Getenv, true), procs.ForWholeSystem(os.Getenv)
	tmp, err := os.MkdirTemp("", "bench-imap-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	if err := os.Chmod(tmp, 0o755); err != nil { // Dovecot's mail processes run as nobody
		return err
	}
	dv, stop, err := startDovecot(ctx, o.scripts, filepath.Join(tmp, "dovecot"))
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	if err := load(dv, o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loaded %d messages of %d bytes into Dovecot in %.2fs; GOMAXPROCS %d and GOGC %d, as the local system sets them (package procs)\n\n",
		o.mails, o.size, time.Since(start).Seconds(), gomaxprocs, gogc)
	if !o.mbsync {
		cal, err := caliopen(ctx, o, dv, filepath.Join(tmp, "caliopen"))
		if err != nil {
			return fmt.Errorf("imap-fetch: %w", err)
		}
		fmt.Fprintf(stdout, "%s: %d messages in %.2fs, %.0f msg/s, %s\n", cal.name, cal.mails, cal.elapsed.Seconds(), cal.rate(), cal.checked)
		return nil
	}
	off, err := mbsync(ctx, o, dv, filepath.Join(tmp, "mbsync-no"), "no")
	if err != nil {
		return err
	}
	// Each imap-fetch run sits between two runs of mbsync with FSync on and
	// is compared with their mean: creating files (one a message, for both
	// clients) drifts within a run on a file system that is recovering from
	// deletions. The target takes the median of the rounds.
	on, err := mbsync(ctx, o, dv, filepath.Join(tmp, "mbsync-yes-0"), "yes")
	if err != nil {
		return err
	}
	rows := []row{off, on}
	var rounds []float64
	for i := 1; i <= o.rounds; i++ {
		cal, err := caliopen(ctx, o, dv, filepath.Join(tmp, fmt.Sprintf("caliopen-%d", i)))
		if err != nil {
			return fmt.Errorf("imap-fetch, round %d: %w", i, err)
		}
		next, err := mbsync(ctx, o, dv, filepath.Join(tmp, fmt.Sprintf("mbsync-yes-%d", i)), "yes")
		if err != nil {
			return err
		}
		cal.name = fmt.Sprintf("%s, round %d", cal.name, i)
		next.name = fmt.Sprintf("%s, after round %d", next.name, i)
		rows = append(rows, cal, next)
		rounds = append(rounds, cal.rate()/((on.rate()+next.rate())/2))
		on = next
	}
	on2 := report(stdout, o, rows, rounds)
	var rates, cpu []float64
	for _, r := range rows {
		if r.cpuMS > 0 {
			rates, cpu = append(rates, r.rate()), append(cpu, r.cpuMS)
		}
	}
	f := benchresult.Figure{Key: benchresult.IMAPFullSync, Title: fmt.Sprintf("IMAP full sync of %d × %d B, imap-fetch, median of %d rounds", o.mails, o.size, o.rounds),
		Value: median(rates), Unit: "msg/s", Baseline: "mbsync with FSync on, the runs around each round", BaselineValue: on2,
		Ratio: median(rounds), Target: 1.5, Extra: map[string]float64{benchresult.CPUPerMessage: median(cpu)}}
	return benchresult.Append(o.figures, f)
}

// report prints the table, each row against the mean of mbsync's runs
// with FSync on and against its run with FSync off, then each round's
// ratio and their median.
func report(w io.Writer, o options, rows []row, rounds []float64) (mbsyncOn float64) {
	var onSum float64
	var onRuns int
	off := rows[0].rate()
	for _, r := range rows {
		if r.fsyncOn {
			onSum += r.rate()
			onRuns++
		}
	}
	on := onSum / float64(onRuns)
	fmt.Fprintf(w, "full INBOX sync from Dovecot: %d messages of %d bytes\n\n", o.mails, o.size)
	fmt.Fprintf(w, "%-52s %6s %8s %8s %10s %10s  %s\n", "client", "msgs", "seconds", "msg/s", "×fsync on", "×fsync off", "verified by")
	for _, r := range rows {
		fmt.Fprintf(w, "%-52s %6d %8.2f %8.0f %10.2f %10.2f  %s\n", r.name, r.mails, r.elapsed.Seconds(), r.rate(),
			r.rate()/on, r.rate()/off, r.checked)
	}
	fmt.Fprintln(w, strings.Repeat("-", 20))
	fmt.Fprintf(w, "mbsync with FSync on, mean of its %d runs: %.0f msg/s\n", onRuns, on)
	parts := make([]string, len(rounds))
	for i, x := range rounds {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	fmt.Fprintf(w, "imap-fetch against the mean of the mbsync runs (FSync on) just before and after it, by round: %s\n",
		strings.Join(parts, ", "))
	fmt.Fprintf(w, "target: imap-fetch ≥ 1.0 × mbsync with FSync on (median of the rounds): %.2f\n", median(rounds))
	return on
}

// median is the middle value of xs (the mean of the two middle ones for
// an even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
