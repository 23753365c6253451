// Command bench-coldstart measures a function's cold start as a scale from
// zero would see it: from starting the function's process (cmd/function,
// built first) to its first reply to an order, for smtp-deliver on SQLite,
// a blob folder and an embedded NATS. The baseline, measured in the same
// run, is the same binary started and exiting at once on a configuration
// error (process start and Go runtime start alone). It prints the median
// and the worst of -n starts and their ratios to the baseline's median.
// Then, in the local system's process mode (package provider behind the
// gateway), for every function: an invocation at zero replicas to its
// reply, median and worst of -n, against the 50 ms target. `make bench`
// runs it.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/secrets"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-coldstart:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-coldstart", flag.ContinueOnError)
	n := fs.Int("n", 20, "starts measured")
	figures := fs.String("figures", "", "append the figures, each with its baseline and ratio, to this file (package benchresult)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-coldstart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "function")
	if out, err := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/function").CombinedOutput(); err != nil {
		return fmt.Errorf("build cmd/function: %v\n%s", err, out)
	}
	ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	key, err := secrets.NewKeyLine(nil, "k1")
	if err != nil {
		return err
	}
	// The function serves only signed calls, as on a cluster.
	invokeKey := rand.Text() + rand.Text()
	keys, err := invokeauth.ParseKeys(invokeKey)
	if err != nil {
		return err
	}
	env := []string{"FUNCTION=smtp-deliver", "CALIOPEN_INVOKE_KEY=" + invokeKey, "CALIOPEN_STORE_DSN=sqlite://" + filepath.Join(dir, "caliopen.db"),
		"CALIOPEN_BLOB_DIR=" + filepath.Join(dir, "blobs"), "NATS_URL=" + ns.ClientURL(), "CALIOPEN_SECRETS_KEYS=" + key,
		"PATH=" + os.Getenv("PATH")}
	// The first start migrates the store, as a deployment's first start
	// does once; it is not measured.
	if _, err := coldStart(bin, env, keys); err != nil {
		return err
	}
	var base, cold []time.Duration
	for range *n {
		start := time.Now()
		c := exec.Command(bin)
		c.Env = []string{"FUNCTION=no-such-function"}
		if err := c.Run(); err == nil {
			return errors.New("the baseline start did not fail")
		}
		base = append(base, time.Since(start))
		d, err := coldStart(bin, env, keys)
		if err != nil {
			return err
		}
		cold = append(cold, d)
	}
	slices.Sort(base)
	slices.Sort(cold)
	med := func(d []time.Duration) time.Duration { return d[len(d)/2] }
	fmt.Fprintf(stdout, "cold start of smtp-deliver, process start to first reply, %d starts:\n", *n)
	fmt.Fprintf(stdout, "  baseline (process start to exit on a configuration error): median %s\n", med(base).Round(100*time.Microsecond))
	fmt.Fprintf(stdout, "  cold start: median %s (%.1fx baseline), worst %s (%.1fx)\n",
		med(cold).Round(100*time.Microsecond), float64(med(cold))/float64(med(base)),
		cold[len(cold)-1].Round(100*time.Microsecond), float64(cold[len(cold)-1])/float64(med(base)))
	platform := map[string]string{"CALIOPEN_STORE_DSN": "sqlite://" + filepath.Join(dir, "caliopen.db"),
		"CALIOPEN_BLOB_DIR": filepath.Join(dir, "blobs"), "NATS_URL": ns.ClientURL(), "CALIOPEN_SECRETS_KEYS": key}
	worstMedian, err := processColdStarts(stdout, bin, dir, platform, *n)
	if err != nil {
		return err
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return benchresult.Append(*figures,
		benchresult.Lower("coldstart/smtp-deliver", "cold start of smtp-deliver, process start to first reply, median", ms(med(cold)), ms(med(base)),
			"ms", "bare process start to exit, median"),
		benchresult.Lower("coldstart/process-mode-worst", "process mode, zero replicas to the first reply, worst function's median",
			ms(worstMedian), ms(med(base)), "ms", "bare process start to exit, median").WithTarget(1/1.2))
}

// coldStart starts the function on a free port and posts a deliver order
// until it answers; the answer (422: no such draft) comes from the
// function, after its store was opened.
func coldStart(bin string, env []string, keys *invokeauth.Keys) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	c := exec.CommandContext(ctx, bin)
	c.Env = append(env, "FUNCTION_PORT="+strconv.Itoa(port))
	var logs bytes.Buffer
	c.Stdout, c.Stderr = &logs, &logs
	if err := c.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	order := `{"order":"deliver","message_id":"00000000-0000-4000-8000-000000000001","remote_id":"00000000-0000-4000-8000-000000000003","user_id":"00000000-0000-4000-8000-000000000002"}`
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(order))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(invokeauth.Header, keys.Sign(time.Now(), invokeauth.Call{Method: http.MethodPost,
			Function: "smtp-deliver", Body: []byte(order)}))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			time.Sleep(time.Millisecond)
			continue
		}
		d := time.Since(start)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity {
			return 0, fmt.Errorf("first reply %d, want 422 (no such draft)", resp.StatusCode)
		}
		return d, nil
	}
	return 0, fmt.Errorf("no reply within 30s; logs:\n%s", logs.String())
}
