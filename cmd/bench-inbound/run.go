package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/cpuprof"
	"github.com/caliopen/functions/internal/procs"
)

// options are the command's flags.
type options struct {
	mails, sessions, size int
	dovecot               string // LMTP address of a running Dovecot; "" starts one
	storeDSN              string // "" uses SQLite in a temporary directory
	scripts               string // scripts/test-peers
}

// row is one measured target.
type row struct {
	name    string
	mails   int
	elapsed time.Duration
	checked string // how delivery was verified
}

func (r row) rate() float64 { return float64(r.mails) / r.elapsed.Seconds() }

// run parses flags, starts the peers, measures and prints.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-inbound", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.mails, "mails", 2000, "mails per target")
	fs.IntVar(&o.sessions, "sessions", 10, "parallel smtp-source sessions")
	fs.IntVar(&o.size, "size", 4096, "mail size in bytes")
	fs.StringVar(&o.dovecot, "dovecot", getenv("CALIOPEN_TEST_DOVECOT_LMTP"), "LMTP address of a Dovecot to compare with; empty starts one with scripts/test-peers/dovecot.sh")
	fs.StringVar(&o.storeDSN, "store", "", "store DSN for Caliopen (default: SQLite in a temporary directory)")
	fs.StringVar(&o.scripts, "scripts", "scripts/test-peers", "folder of the peer scripts")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	figures := fs.String("figures", "", "append the figures, each with its baseline and ratio, to this file (package benchresult)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	gomaxprocs, gogc := procs.ForFileIO(getenv, true), procs.ForWholeSystem(getenv)
	stopProfile, err := cpuprof.Start(*cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	if o.mails <= 0 || o.sessions <= 0 || o.size <= 0 {
		return errors.New("-mails, -sessions and -size must be positive")
	}
	tmp, err := os.MkdirTemp("", "bench-inbound-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// Dovecot's mail processes run as nobody and must traverse them.
	for _, d := range []string{tmp, filepath.Join(tmp, "before"), filepath.Join(tmp, "after")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	var rows []row
	sink, err := benchSink(ctx, o, tmp)
	if err != nil {
		return fmt.Errorf("smtp-sink: %w", err)
	}
	rows = append(rows, sink)
	// Dovecot runs before and after Caliopen and the ratios use the mean
	// of its two runs: creating files (one a mail, for both) drifts within
	// a run on a busy file system.
	dove, err := benchDovecot(ctx, o, filepath.Join(tmp, "before"))
	if err != nil {
		return fmt.Errorf("dovecot: %w", err)
	}
	rows = append(rows, dove)
	cal, err := benchCaliopen(ctx, o, tmp)
	if err != nil {
		return fmt.Errorf("caliopen: %w", err)
	}
	rows = append(rows, cal...)
	after, err := benchDovecot(ctx, o, filepath.Join(tmp, "after"))
	if err != nil {
		return fmt.Errorf("dovecot: %w", err)
	}
	after.name += ", after"
	rows = append(rows, after)
	fmt.Fprintf(stdout, "GOMAXPROCS %d and GOGC %d, as the local system sets them (package procs)\n", gomaxprocs, gogc)
	report(stdout, o, rows, (dove.rate()+after.rate())/2)
	var figs []benchresult.Figure
	for _, r := range cal {
		figs = append(figs, benchresult.Higher("inbound/"+benchresult.Slug(r.name), r.name, r.rate(), (dove.rate()+after.rate())/2,
			"msg/s", "Dovecot LMTP, mean of its runs before and after").WithTarget(1.5))
	}
	return benchresult.Append(*figures, figs...)
}

// report prints the table with ratios against Dovecot (dovecot is the
// mean rate of its runs).
func report(w io.Writer, o options, rows []row, dovecot float64) {
	fmt.Fprintf(w, "inbound throughput: smtp-source -s %d, %d mails of %d bytes per target\n\n", o.sessions, o.mails, o.size)
	fmt.Fprintf(w, "%-42s %8s %9s %10s %9s  %s\n", "target", "mails", "seconds", "msg/s", "×dovecot", "verified by")
	for _, r := range rows {
		fmt.Fprintf(w, "%-42s %8d %9.2f %10.0f %9.2f  %s\n", r.name, r.mails, r.elapsed.Seconds(), r.rate(),
			r.rate()/dovecot, r.checked)
	}
	fmt.Fprintf(w, "Dovecot, mean of the runs before and after Caliopen: %.0f msg/s\n", dovecot)
}
