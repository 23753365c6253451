package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	imapfetch "github.com/caliopen/functions/functions/imap-fetch"
	"github.com/caliopen/functions/internal/procs"
)

// options are the command's flags.
type options struct {
	mails, size     int
	batch, inFlight int
	scripts         string // scripts/test-peers
	cpuprofile      string // profile of imap-fetch's sync
	mbsync          bool   // run the baselines
}

// row is one measured client.
type row struct {
	name    string
	mails   int
	elapsed time.Duration
	checked string
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
	fs.BoolVar(&o.mbsync, "mbsync", true, "run the mbsync baselines (false: imap-fetch alone, to profile or compare builds)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.mails <= 0 || o.size < 512 || o.batch <= 0 || o.inFlight <= 0 {
		return errors.New("-mails, -batch and -inflight must be positive and -size at least 512")
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
	// mbsync with FSync on runs before and after imap-fetch, and the
	// target compares with the mean of the two: creating files on a busy
	// file system (one a message, for both clients) drifts within a run.
	if !o.mbsync {
		cal, err := caliopen(ctx, o, dv, filepath.Join(tmp, "caliopen"))
		if err != nil {
			return fmt.Errorf("imap-fetch: %w", err)
		}
		fmt.Fprintf(stdout, "%s: %d messages in %.2fs, %.0f msg/s, %s\n", cal.name, cal.mails, cal.elapsed.Seconds(), cal.rate(), cal.checked)
		return nil
	}
	var rows []row
	for _, run := range []struct{ dir, fsync string }{{"mbsync-yes", "yes"}, {"mbsync-no", "no"}} {
		r, err := mbsync(ctx, o, dv, filepath.Join(tmp, run.dir), run.fsync)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	cal, err := caliopen(ctx, o, dv, filepath.Join(tmp, "caliopen"))
	if err != nil {
		return fmt.Errorf("imap-fetch: %w", err)
	}
	rows = append(rows, cal)
	after, err := mbsync(ctx, o, dv, filepath.Join(tmp, "mbsync-yes-after"), "yes")
	if err != nil {
		return err
	}
	after.name += ", after"
	rows = append(rows, after)
	report(stdout, o, rows, (rows[0].rate()+after.rate())/2, rows[1].rate(), cal.rate())
	return nil
}

// report prints the table with the ratios against mbsync with FSync on
// (the mean of its two runs) and off.
func report(w io.Writer, o options, rows []row, on, off, ours float64) {
	fmt.Fprintf(w, "full INBOX sync from Dovecot: %d messages of %d bytes\n\n", o.mails, o.size)
	fmt.Fprintf(w, "%-44s %6s %8s %8s %10s %10s  %s\n", "client", "msgs", "seconds", "msg/s", "×fsync on", "×fsync off", "verified by")
	for _, r := range rows {
		fmt.Fprintf(w, "%-44s %6d %8.2f %8.0f %10.2f %10.2f  %s\n", r.name, r.mails, r.elapsed.Seconds(), r.rate(),
			r.rate()/on, r.rate()/off, r.checked)
	}
	fmt.Fprintln(w, strings.Repeat("-", 20))
	fmt.Fprintf(w, "mbsync with FSync on, mean of the runs before and after: %.0f msg/s\n", on)
	fmt.Fprintf(w, "target: imap-fetch ≥ 1.0 × mbsync with FSync on: %.2f\n", ours/on)
}
