// Package providertest runs a fake function for the provider's tests: the
// real adapter (fnhttp, with the invocation key's signature check) around a
// core that can be held mid-call on demand, which no function of the module
// can be. A test binary runs it as a replica when its TestMain calls
// MaybeRun; Args and Env start it so.
//
// It is a hand-written fake because a real function cannot be stopped
// mid-call at will: the tests that kill a replica during a call need one.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/invokeauth"
)

// Environment of the fake.
const (
	// EnvRun, set to 1, makes MaybeRun serve the fake instead of the tests.
	EnvRun = "PROVIDERTEST_FAKE"
	// EnvDir is the folder of the fake's files: while HoldFile exists
	// there, every call waits in the core (saying "holding" in the log);
	// each call that completes appends its order's id to ProcessedFile.
	EnvDir = "PROVIDERTEST_DIR"
)

// Files in EnvDir.
const (
	HoldFile      = "hold"
	ProcessedFile = "processed"
)

// Env is the deployment environment of the fake serving function fn,
// sharing dir with the test.
func Env(fn, dir string) map[string]string {
	return map[string]string{EnvRun: "1", EnvDir: dir, fnhttp.EnvFunction: fn}
}

// MaybeRun serves the fake and exits when EnvRun is set; otherwise it
// returns at once. Call it first in TestMain.
func MaybeRun() {
	if os.Getenv(EnvRun) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "fake function:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func run(ctx context.Context, getenv func(string) string) error {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := fnhttp.LoadConfig(getenv)
	if err != nil {
		return err
	}
	if cfg.Keys, err = invokeauth.Load(getenv); err != nil {
		return err
	}
	dir := getenv(EnvDir)
	if dir == "" {
		return errors.New(EnvDir + " is required")
	}
	core := func(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
		id := orderID(call.Request.Payload)
		for logged := false; exists(filepath.Join(dir, HoldFile)); logged = true {
			if !logged {
				call.Logger.Info("holding", "id", id, "pid", os.Getpid())
			}
			select {
			case <-ctx.Done():
				return fnhttp.Result{}, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
		f, err := os.OpenFile(filepath.Join(dir, ProcessedFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fnhttp.Result{}, err
		}
		defer f.Close()
		if _, err := f.WriteString(id + "\n"); err != nil {
			return fnhttp.Result{}, err
		}
		return fnhttp.Result{Message: "processed " + id}, nil
	}
	h := fnhttp.New(cfg, contract.Caliopen(), core, logger)
	port := getenv("FUNCTION_PORT")
	if _, err := strconv.Atoi(port); err != nil {
		return fmt.Errorf("FUNCTION_PORT=%q: want a port", port)
	}
	return fnhttp.ListenAndServe(ctx, "127.0.0.1:"+port, h, logger.With("fn", cfg.Function))
}

// orderID is the id an order is about.
func orderID(payload any) string {
	switch p := payload.(type) {
	case *contract.DeliverOrder:
		return p.MessageID
	case *contract.ContactOrder:
		return p.ContactID
	}
	return fmt.Sprintf("%T", payload)
}

func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
