package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	imapfetch "github.com/caliopen/functions/functions/imap-fetch"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/cpuprof"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/system/systemtest"
)

// caliopen drains the mailbox with imap-fetch into the inbound path of
// the whole system (package systemtest: embedded NATS, the connector, inbound-email, SQLite,
// blobs), invoking the core for each order of the follow-up chain, and
// checks that the store holds every message.
func caliopen(ctx context.Context, o options, d dovecot, dir string) (row, error) {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s, err := systemtest.Start(ctx, systemtest.Options{Dir: dir, Logger: logger})
	if err != nil {
		return row{}, err
	}
	defer func() { _ = s.Close() }()
	nc, err := s.ConnectAs("imap-fetch")
	if err != nil {
		return row{}, err
	}
	defer nc.Close()
	em, err := emit.New(nc)
	if err != nil {
		return row{}, err
	}
	ring, err := secrets.NewKeyring(secrets.Key{ID: "bench", Secret: bytes.Repeat([]byte{9}, secrets.KeySize)})
	if err != nil {
		return row{}, err
	}
	ident, err := remoteIdentity(ctx, s.Store, ring, d)
	if err != nil {
		return row{}, err
	}
	cfg := imapfetch.DefaultConfig()
	cfg.Batch, cfg.InFlight = o.batch, o.inFlight
	// The bench's Dovecot listens on loopback: allowed as an operator
	// allows an address, the egress guard on.
	if cfg.Guard, err = netguard.ParseAllow("127.0.0.1"); err != nil {
		return row{}, err
	}
	fnLog := logger
	if os.Getenv("BENCH_IMAP_TRACE") != "" {
		fnLog = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	core, err := imapfetch.New(cfg, imapfetch.Deps{Store: s.Store, Blobs: s.Blobs, Keyring: ring, Emitter: em, Logger: fnLog})
	if err != nil {
		return row{}, err
	}
	subject, _ := contract.Caliopen().Subject(contract.SubjectIMAPFetcher)
	order := &contract.RemoteOrder{Order: contract.OrderSync, RemoteID: ident.ID, UserID: ident.UserID}
	call := &fnhttp.Call{Function: "imap-fetch", Request: &contract.Request{Subject: subject, Payload: order},
		Logger: fnLog, Attempt: 1}
	stopProfile, err := cpuprof.Start(o.cpuprofile)
	if err != nil {
		return row{}, err
	}
	defer stopProfile()
	start := time.Now()
	user, system := cpuprof.Times()
	for n := 1; ; n++ {
		t0 := time.Now()
		res, err := core(ctx, call)
		if os.Getenv("BENCH_IMAP_TRACE") != "" {
			fmt.Fprintf(os.Stderr, "invocation %d: %s in %s\n", n, res.Message, time.Since(t0))
		}
		if err != nil {
			return row{}, fmt.Errorf("invocation %d: %w", n, err)
		}
		if strings.Contains(res.Message, "failure recorded") {
			return row{}, fmt.Errorf("invocation %d: %s", n, res.Message)
		}
		if !strings.Contains(res.Message, "more to come") {
			break
		}
	}
	elapsed := time.Since(start)
	user1, system1 := cpuprof.Times()
	user, system = user1-user, system1-system
	got, err := s.CountMessages(ctx, ident.UserID)
	if err != nil {
		return row{}, err
	}
	if got != o.mails {
		return row{}, fmt.Errorf("%d of %d messages in the store", got, o.mails)
	}
	return row{name: fmt.Sprintf("imap-fetch (batch %d, %d in flight)", o.batch, o.inFlight), mails: got, cpuMS: perMessage(user+system, got),
		elapsed: elapsed, checked: fmt.Sprintf("%d messages in the store (%s), %.2f ms of CPU each (user %.2f, system %.2f)",
			got, s.Store.Dialect(), perMessage(user+system, got), perMessage(user, got), perMessage(system, got))}, nil
}

// remoteIdentity creates a user with a remote identity on d.
func remoteIdentity(ctx context.Context, st *store.SQL, ring *secrets.Keyring, d dovecot) (store.Identity, error) {
	u, err := st.CreateUser(ctx, store.User{Name: "bench"})
	if err != nil {
		return store.Identity{}, err
	}
	const id = "6d2f0c1e-0000-4000-8000-00000000be7c"
	creds, _ := json.Marshal(map[string]string{"inusername": d.user, "inpassword": d.pass})
	sealed, err := ring.Seal(creds, []byte(id))
	if err != nil {
		return store.Identity{}, err
	}
	return st.CreateIdentity(ctx, store.Identity{ID: id, UserID: u.ID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: "bench@remote.example", PollInterval: 15 * time.Minute,
		Infos: map[string]string{"inserver": d.addr, "intls": "none"}, Credentials: sealed})
}

// perMessage is d spread over n messages, in milliseconds.
func perMessage(d time.Duration, n int) float64 { return d.Seconds() * 1000 / float64(n) }
