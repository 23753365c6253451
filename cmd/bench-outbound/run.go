package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caliopen/functions/system/systemtest"

	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/cpuprof"
	"github.com/caliopen/functions/internal/procs"
)

// options are the command line.
type options struct {
	n, c, size   int
	sink, relay  string
	smtpSource   string
	peersScripts string
	cpuprofile   string
	figures      string // benchresult's file
	logFile      string
	overHTTP     bool
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench-outbound", flag.ContinueOnError)
	fs.IntVar(&o.n, "n", 1000, "messages per measurement")
	fs.IntVar(&o.c, "c", 16, "concurrent senders")
	fs.IntVar(&o.size, "size", 4096, "body bytes per message")
	fs.StringVar(&o.sink, "sink", "", "smtp-sink host:port (default: start one)")
	fs.StringVar(&o.relay, "relay", "", "relay host:port for smtp-deliver (default: the sink)")
	fs.StringVar(&o.smtpSource, "smtp-source", "/usr/sbin/smtp-source", "smtp-source binary")
	fs.StringVar(&o.peersScripts, "peers", "scripts/test-peers", "folder of the peer scripts")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the path's sends to this file")
	fs.StringVar(&o.figures, "figures", "", "append the figures, each with its baseline and ratio, to this file (package benchresult)")
	fs.StringVar(&o.logFile, "log", "", "write the path's JSON logs (debug level) to this file")
	fs.BoolVar(&o.overHTTP, "http", false, "the connector reaches smtp-deliver over loopback TCP (default: in process, as the local system)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if o.n <= 0 || o.c <= 0 || o.size <= 0 {
		errs = append(errs, errors.New("-n, -c and -size must be positive"))
	}
	return o, errors.Join(errs...)
}

// run measures the ceiling, the whole path and the ceiling again, and
// prints them.
func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	gomaxprocs, gogc := procs.ForFileIO(os.Getenv, true), procs.ForWholeSystem(os.Getenv)
	if o.sink == "" {
		addr, stop, err := startSink(o.peersScripts)
		if err != nil {
			return err
		}
		defer stop()
		o.sink = addr
	}
	if o.relay == "" {
		o.relay = o.sink
	}
	// The ceiling is measured before and after the path: file creation on
	// the sink's disk (smtp-sink writes one file a message) drifts by a
	// factor of two or more within a minute on a busy file system, so the
	// ratio uses the mean of the two.
	before, err := smtpSource(ctx, o)
	if err != nil {
		return err
	}
	path, cpu, err := wholePath(ctx, o)
	if err != nil {
		return err
	}
	after, err := smtpSource(ctx, o)
	if err != nil {
		return err
	}
	ceiling := (before + after) / 2
	hop := "in process, as the local system"
	if o.overHTTP {
		hop = "over loopback HTTP"
	}
	fmt.Fprintf(out, "messages %d, concurrency %d, body %d bytes, relay %s, sink %s, GOMAXPROCS %d and GOGC %d (as the local system), connector to smtp-deliver %s\n",
		o.n, o.c, o.size, o.relay, o.sink, gomaxprocs, gogc, hop)
	fmt.Fprintf(out, "ceiling  smtp-source -> smtp-sink:                        %8.0f msg/s (%.0f before the path, %.0f after)\n",
		ceiling, before, after)
	fmt.Fprintf(out, "path     API -> NATS -> connector -> smtp-deliver -> SMTP: %8.0f msg/s (%.2f ms of CPU a message in this process)\n",
		path, float64(cpu.Microseconds())/1000)
	fmt.Fprintf(out, "ratio    %.1f %% of the ceiling (target >= 20 %%)\n", 100*path/ceiling)
	return benchresult.Append(o.figures, benchresult.Higher("outbound/whole-path", "outbound, API → NATS → connector → smtp-deliver → SMTP relay",
		path, ceiling, "msg/s", "smtp-source → smtp-sink, mean of its runs before and after").WithTarget(0.45))
}

// startSink starts smtp-sink with the project's script.
func startSink(dir string) (string, func(), error) {
	b, err := exec.Command("bash", dir+"/smtp-sink.sh").Output()
	if err != nil {
		return "", nil, fmt.Errorf("start smtp-sink (%s/smtp-sink.sh): %w", dir, err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			vars[k] = v
		}
	}
	stop := func() { // and remove the sink's dumps, one file a message
		_ = exec.Command("bash", dir+"/stop.sh", vars["CALIOPEN_TEST_SMTP_SINK_PID"], vars["CALIOPEN_TEST_SMTP_SINK_DIR"]).Run()
	}
	return vars["CALIOPEN_TEST_SMTP_SINK_ADDR"], stop, nil
}

// smtpSource times smtp-source sending n messages over c sessions.
func smtpSource(ctx context.Context, o options) (float64, error) {
	start := time.Now()
	cmd := exec.CommandContext(ctx, o.smtpSource, "-s", fmt.Sprint(o.c), "-m", fmt.Sprint(o.n), "-l", fmt.Sprint(o.size),
		"-f", "bench@caliopen.test", "-t", "sink@example.org", "-M", "caliopen.test", o.sink)
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("smtp-source: %w: %s", err, b)
	}
	return float64(o.n) / time.Since(start).Seconds(), nil
}

// wholePath times n sends of drafts through the API and returns the rate
// and the process's CPU time a message.
func wholePath(ctx context.Context, o options) (float64, time.Duration, error) {
	dir, err := os.MkdirTemp("", "bench-outbound-")
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	logger, closeLog, err := openLog(o.logFile)
	if err != nil {
		return 0, 0, err
	}
	defer closeLog()
	sys, err := systemtest.Start(ctx, systemtest.Options{Dir: dir, MaxInflight: 4 * o.c, Logger: logger, OverTCP: o.overHTTP,
		RelayAddr: o.relay})
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = sys.Close() }()
	alice, err := sys.NewUser(ctx, "alice", "alice-password")
	if err != nil {
		return 0, 0, err
	}
	body := strings.Repeat("Benchmark body line of outbound mail.\n", o.size/38+1)[:o.size]
	ids := make([]string, o.n)
	for i := range ids {
		if ids[i], err = alice.Draft(ctx, "", []string{"sink@example.org"}, fmt.Sprint("bench ", i), body); err != nil {
			return 0, 0, err
		}
	}
	// The profile covers the sends only, not the drafts' creation nor the
	// ceiling's runs (another process).
	stopProfile, err := cpuprof.Start(o.cpuprofile)
	if err != nil {
		return 0, 0, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.c)
	start, cpu := time.Now(), cpuprof.Used()
	for range o.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(o.n); i = next.Add(1) - 1 {
				if _, err := alice.Send(ctx, ids[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuprof.Used()-cpu
	stopProfile()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	return float64(o.n) / elapsed.Seconds(), cpu / time.Duration(o.n), nil
}

// openLog returns a debug-level JSON logger writing to path, or nil (the
// path's default: discard) when path is "".
func openLog(path string) (*slog.Logger, func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})), func() { _ = f.Close() }, nil
}
