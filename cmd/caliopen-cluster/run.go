package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/store"
)

// StateFile is the name, in the data directory, of the JSON file listing
// every process (its pid, addresses, starts, readiness) and the cluster's
// URLs, rewritten at each change.
const StateFile = "state.json"

// readyTimeout bounds the start of one tier (NATS, functions, ...).
const readyTimeout = 3 * time.Minute

// stopGrace is how long a process may drain after SIGTERM.
const stopGrace = 15 * time.Second

// State is what StateFile holds.
type State struct {
	NATSURL    string `json:"nats_url"`
	NATSCAFile string `json:"nats_ca_file"`
	GatewayURL string `json:"gateway_url"`
	// ProviderURL is the provider's API, behind the gateway.
	ProviderURL string `json:"provider_url"`
	// GatewayPasswordFile is the gateway's basic-auth password (user admin).
	GatewayPasswordFile string `json:"gateway_password_file"`
	StoreDSN            string `json:"store_dsn"`
	// OperatorPasswordFile is the NATS password of the operator's user.
	OperatorPasswordFile string `json:"operator_password_file"`
	AdminPasswordFile    string `json:"admin_password_file"`
	LocalDomain          string `json:"local_domain"`
	Procs                []proc `json:"procs"`
	// Replicas are the functions' replicas, as the provider runs them.
	Replicas []Replica `json:"replicas"`
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	unlock, err := lock(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	sec, err := openSecrets(cfg.DataDir, cfg.Host)
	if err != nil {
		return err
	}
	topo, err := build(cfg, sec)
	if err != nil {
		return err
	}
	for _, w := range topo.Warnings {
		logger.Warn(w)
	}
	if err := prepareStore(ctx, cfg.StoreDSN, topo.LocalDomain, sec.AdminPassword); err != nil {
		return err
	}

	fns, err := startProvider(cfg, topo, sec, logger)
	if err != nil {
		return err
	}
	defer fns.close()

	state := State{NATSURL: topo.NATSURL, NATSCAFile: sec.CA, GatewayURL: "http://" + topo.GatewayAddr,
		ProviderURL: "http://" + topo.ProviderAddr, GatewayPasswordFile: filepath.Join(cfg.DataDir, "mounts", "gateway", "basic-auth-password"),
		StoreDSN: cfg.StoreDSN, OperatorPasswordFile: filepath.Join(sec.dir, "nats-operator"),
		AdminPasswordFile: sec.AdminPasswordFile, LocalDomain: topo.LocalDomain}
	var stateMu sync.Mutex
	all := topo.All()
	writeState := func() {
		stateMu.Lock()
		defer stateMu.Unlock()
		s := state
		for _, p := range all {
			s.Procs = append(s.Procs, p.snapshot())
		}
		s.Replicas = fns.replicas()
		b, _ := json.MarshalIndent(s, "", "  ")
		tmp := filepath.Join(cfg.DataDir, StateFile+".tmp")
		if os.WriteFile(tmp, b, 0o600) == nil {
			_ = os.Rename(tmp, filepath.Join(cfg.DataDir, StateFile))
		}
	}
	for _, p := range all {
		p.onState = writeState
	}
	writeState()
	// The provider's replicas change on their own (one that dies is
	// replaced): state.json follows them.
	go func() {
		var last []Replica
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			if now := fns.replicas(); !slices.Equal(now, last) {
				last = now
				writeState()
			}
		}
	}()

	// Tiers start in order, each once the one before is ready, and stop in
	// the reverse order.
	tiers := [][]*proc{topo.NATS, {topo.Prometheus, topo.Gateway}, topo.Connectors, topo.Listeners, topo.Schedulers}
	names := []string{"NATS", "OpenFaaS gateway", "connectors", "SMTP listeners", "schedulers"}
	type running struct {
		cancel context.CancelFunc
		wg     *sync.WaitGroup
	}
	var started []running
	stopAll := func() {
		for i := len(started) - 1; i >= 0; i-- {
			started[i].cancel()
			started[i].wg.Wait()
		}
	}
	defer stopAll()
	for i, tier := range tiers {
		tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		wg := &sync.WaitGroup{}
		started = append(started, running{cancel, wg})
		readies := make([]chan struct{}, len(tier))
		for j, p := range tier {
			readies[j] = make(chan struct{})
			wg.Go(func() { p.supervise(tctx, logger, stopGrace, readies[j]) })
		}
		t0 := time.Now()
		timeout := time.After(readyTimeout)
		for j, ch := range readies {
			select {
			case <-ch:
			case <-ctx.Done():
				return nil
			case <-timeout:
				return fmt.Errorf("%s: %s not ready after %s; its log: %s", names[i], tier[j].Name, readyTimeout, tier[j].log)
			}
		}
		logger.Info("ready", "tier", names[i], "procs", len(tier), "seconds", time.Since(t0).Seconds())
		if slices.Contains(tier, topo.Gateway) {
			// The functions, deployed through the gateway before the
			// connectors read their topics from it.
			dctx, cancel := context.WithTimeout(ctx, readyTimeout)
			err := fns.deploy(dctx, state.GatewayURL, sec.GatewayPassword, topo.Deployments)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("functions: %w", err)
			}
			logger.Info("ready", "tier", "functions", "deployments", len(topo.Deployments), "seconds", time.Since(t0).Seconds())
		}
	}
	printSummary(stdout, cfg, topo, &state, fns.replicas())
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping…")
	return nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// lock takes the data directory's lock: one cluster per directory.
func lock(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is in use by another caliopen-cluster: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// prepareStore migrates the store once, before the processes that share it
// start, and makes sure the admin user exists.
func prepareStore(ctx context.Context, dsn, domain, password string) error {
	var st *store.SQL
	var err error
	for range 30 {
		if st, err = store.Open(ctx, dsn); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return fmt.Errorf("open the store: %w", err)
	}
	defer st.Close()
	if _, err := st.GetUserByName(ctx, api.DefaultAdminName); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("look up the admin: %w", err)
	}
	acc, err := accounts.New(accounts.Config{LocalDomain: cmp.Or(domain, api.DefaultLocalDomain)}, st)
	if err != nil {
		return err
	}
	if _, _, err := acc.CreateUser(ctx, accounts.NewUser{Name: api.DefaultAdminName, Password: password, IsAdmin: true}); err != nil {
		return fmt.Errorf("create the admin: %w", err)
	}
	return nil
}

func printSummary(w io.Writer, cfg config, t *topology, s *State, replicas []Replica) {
	list := func(ps []*proc, key string) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Addrs[key])
		}
		return strings.Join(out, " ")
	}
	fmt.Fprintf(w, "Caliopen Functions, the cluster on one machine (data in %s, logs in %s)\n", cfg.DataDir, filepath.Join(cfg.DataDir, "logs"))
	fmt.Fprintf(w, "  NATS (3 servers, JetStream, TLS)  %s\n", t.NATSURL)
	fmt.Fprintf(w, "    monitoring                      %s\n", list(t.NATS, "monitor"))
	fmt.Fprintf(w, "    CA of the clients' TLS          %s\n", s.NATSCAFile)
	fmt.Fprintf(w, "  OpenFaaS CE gateway               %s (basic auth: admin, %s)\n", s.GatewayURL, s.GatewayPasswordFile)
	fmt.Fprintf(w, "    provider (process replicas)     %s (logs in %s)\n", s.ProviderURL, filepath.Join(cfg.DataDir, "provider", "logs"))
	fmt.Fprintf(w, "    Prometheus                      http://%s\n", t.Prometheus.Addrs["http"])
	fmt.Fprintf(w, "  REST API                          %s/function/api/api/v2/\n", s.GatewayURL)
	fmt.Fprintf(w, "  SMTP listeners (two MX)           %s\n", list(t.Listeners, "smtp_listen"))
	fmt.Fprintf(w, "  LMTP                              %s\n", list(t.Listeners, "lmtp_listen"))
	fmt.Fprintf(w, "  connectors (/metrics, /readyz)    %s\n", list(t.Connectors, "http"))
	fmt.Fprintf(w, "  schedulers (/metrics, /healthz)   %s\n", list(t.Schedulers, "scheduler_http"))
	fmt.Fprintf(w, "  PostgreSQL                        %s\n", redactDSN(cfg.StoreDSN))
	fmt.Fprintf(w, "  S3 (versitygw)                    %s\n", cfg.S3Endpoint)
	if cfg.EgressAllow != "" {
		fmt.Fprintf(w, "  egress allowed to (functions)     %s (%s)\n", cfg.EgressAllow, EnvEgressAllow)
	}
	fmt.Fprintf(w, "  functions (replicas of bin/function, started by the provider)\n")
	byFn := map[string][]string{}
	for _, r := range replicas {
		byFn[r.Function] = append(byFn[r.Function], r.Addr)
	}
	for _, name := range sortedKeys(byFn) {
		fmt.Fprintf(w, "    %-18s %d × %s\n", name, len(byFn[name]), strings.Join(byFn[name], " "))
	}
	fmt.Fprintf(w, `Log in with the client (go build -o bin/ ./cmd/caliopen):
  bin/caliopen -url %s login admin < %s
Press Ctrl-C to stop.
`, s.GatewayURL, s.AdminPasswordFile)
}

// redactDSN drops a password from a DSN.
func redactDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 {
		return dsn
	}
	userinfo := dsn[scheme+3 : at]
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return dsn[:scheme+3] + user + ":xxx" + dsn[at:]
	}
	return dsn
}
