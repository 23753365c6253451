// Package natsauth_test runs the real connector, emitters, outbox relay and
// the SMTP listener's request against a NATS server configured with the
// generated users of infra/k8s/base/nats.yaml (package deploy), and checks
// that each component can do what it must and nothing of another's.
package natsauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/deploy"
	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/natsconn"
	"github.com/caliopen/functions/internal/outbox"
	"github.com/caliopen/functions/internal/peertest"
	"github.com/caliopen/functions/internal/store/storetest"
)

// The variable naming Debian's nats-server 2.9 binary
// (scripts/test-peers/nats29.sh), the oldest server the project supports.
const envNATS29Bin = "CALIOPEN_TEST_NATS29_BIN"

func users(t *testing.T) []deploy.NATSUser {
	t.Helper()
	var names []string
	for _, s := range functions.All() {
		names = append(names, s.Name)
	}
	u, err := deploy.NATSUsers(contract.Caliopen(), names)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func password(user string) string { return "pw-" + user }

// writeConf writes a nats.conf with JetStream in dir and the generated
// authorization block, and returns it with the environment holding the
// passwords it refers to.
func writeConf(t *testing.T, dir string, port int) (string, []string) {
	t.Helper()
	var env []string
	for _, u := range users(t) {
		env = append(env, u.PasswordEnv()+"="+password(u.Name))
	}
	conf := fmt.Sprintf("host: 127.0.0.1\nport: %d\njetstream {\n  store_dir: %q\n}\n%s",
		port, filepath.Join(dir, "js"), deploy.NATSAuthorization(users(t)))
	name := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(name, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return name, env
}

// embedded starts the module's nats-server with the configuration, parsed
// by the server's own parser.
func embedded(t *testing.T) string {
	t.Helper()
	conf, env := writeConf(t, t.TempDir(), -1)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded nats-server not ready")
	}
	return s.ClientURL()
}

// external starts the nats-server binary bin with the configuration.
func external(t *testing.T, bin string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	conf, env := writeConf(t, dir, port)
	cmd := exec.Command(bin, "-c", conf, "-l", filepath.Join(dir, "nats-server.log"))
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return url
		}
		if time.Now().After(end) {
			log, _ := os.ReadFile(filepath.Join(dir, "nats-server.log"))
			t.Fatalf("%s did not start: %s", bin, log)
		}
	}
}

// TestNATSUsers runs the checks against the embedded server and, when
// scripts/test-peers/nats29.sh made it available, Debian's 2.9.
func TestNATSUsers(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { checkUsers(t, embedded(t)) })
	t.Run("nats-server 2.9", func(t *testing.T) {
		bin := peertest.Env(t, envNATS29Bin, "start one with scripts/test-peers/nats29.sh")
		checkUsers(t, external(t, bin))
	})
}

// client is one component's connection, made as the component makes it
// (natsconn from its environment), with the asynchronous errors the server
// sent it.
type client struct {
	nc   *nats.Conn
	errs chan error
}

func dial(t *testing.T, url, user string) *client {
	t.Helper()
	cfg, err := natsconn.LoadConfig(func(k string) string {
		return map[string]string{"NATS_URL": url, "NATS_USER": user, "NATS_PASSWORD": password(user),
			"NATS_INBOX_PREFIX": deploy.InboxPrefixOf(user)}[k]
	}, user)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cfg.Options(slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{errs: make(chan error, 16)}
	opts = append(opts, nats.RetryOnFailedConnect(false), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case c.errs <- err:
		default:
		}
	}))
	if c.nc, err = nats.Connect(url, opts...); err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(c.nc.Close)
	return c
}

// violation waits for the server's permissions violation naming what.
func (c *client) violation(t *testing.T, what string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case err := <-c.errs:
			if strings.Contains(err.Error(), "Permissions Violation") && strings.Contains(err.Error(), what) {
				return
			}
		case <-timeout:
			t.Fatalf("no permissions violation for %s", what)
		}
	}
}

// function is an HTTP function behind the connector: it records the
// subjects of its calls and answers the contract's reply of each.
type function struct {
	mu    sync.Mutex
	calls map[string][]string
}

func (f *function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	subj := r.Header.Get("X-Nats-Subject")
	f.mu.Lock()
	f.calls[subj] = append(f.calls[subj], string(b))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch subj {
	case contract.SubjectInboundSMTP:
		_ = json.NewEncoder(w).Encode(contract.InboundReply{Message: contract.InboundStored, MessageID: "m1"})
	default:
		_, _ = io.WriteString(w, `{"error":false,"message":"done"}`)
	}
}

func (f *function) count(subject string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls[subject])
}

type topics connector.TopicMap

func (m topics) Load(context.Context) (connector.TopicMap, error) { return connector.TopicMap(m), nil }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

func checkUsers(t *testing.T, url string) {
	ctx := t.Context()
	fn := &function{calls: map[string][]string{}}
	srv := httptest.NewServer(fn)
	t.Cleanup(srv.Close)
	target := []connector.Target{{Name: "fn", URL: srv.URL}}

	// The real connector, dialling as its user.
	cfg := connector.DefaultConfig()
	cfg.NATS.URL, cfg.NATS.User, cfg.NATS.Password = url, deploy.NATSUserConnector, password(deploy.NATSUserConnector)
	cfg.NATS.InboxPrefix = deploy.InboxPrefixOf(deploy.NATSUserConnector)
	cfg.Mode, cfg.TopicMapFile = connector.ModeStatic, "unused"
	cfg.DrainTimeout = time.Second // in-flight pull requests need not end for the test to
	conn, err := connector.New(cfg, connector.Deps{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		Contract: contract.Caliopen(), Source: topics{
			contract.SubjectOutboundSMTP:  target,
			contract.SubjectInboundSMTP:   target,
			contract.SubjectContactAction: target,
		}})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	if err := conn.Start(cctx); err != nil {
		cancel()
		t.Fatalf("connector start as its user: %v", err)
	}
	go conn.Serve(cctx)
	t.Cleanup(func() { cancel(); _ = conn.Drain(); conn.Close() })

	t.Run("api requests deliver", func(t *testing.T) {
		em, err := emit.New(dial(t, url, "api").nc)
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		body, err := em.Request(rctx, contract.SubjectOutboundSMTP,
			contract.DeliverOrder{MessageID: "m1", Order: contract.OrderDeliver, RemoteID: "i1", UserID: "u1"})
		if err != nil {
			t.Fatal(err)
		}
		var r contract.DeliverReply
		if err := json.Unmarshal(body, &r); err != nil || r.Error {
			t.Fatalf("reply %s (%v), want a success", body, err)
		}
	})

	t.Run("smtp-listener requests process_inbound", func(t *testing.T) {
		em, err := emit.New(dial(t, url, deploy.NATSUserSMTPListener).nc)
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		order := contract.DeliverOrder{MessageID: "raw1", RemoteID: "i1", UserID: "u1"}
		if rep, err := emit.ProcessInbound(rctx, em, contract.SubjectInboundSMTP, order); err != nil || rep.MessageID == "" {
			t.Fatalf("process_inbound: %+v, %v", rep, err)
		}
	})

	t.Run("key-action publishes contact_update into the stream", func(t *testing.T) {
		em, err := emit.New(dial(t, url, "key-action").nc)
		if err != nil {
			t.Fatal(err)
		}
		before := fn.count(contract.SubjectContactAction)
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := em.Publish(pctx, contract.SubjectContactAction,
			contract.ContactOrder{Order: contract.OrderContactUpdate, ContactID: "c1", UserID: "u1"}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "contact_update reaches the function", func() bool { return fn.count(contract.SubjectContactAction) > before })
	})

	t.Run("the scheduler's outbox relay publishes the api's orders", func(t *testing.T) {
		em, err := emit.New(dial(t, url, deploy.NATSUserScheduler).nc)
		if err != nil {
			t.Fatal(err)
		}
		st := storetest.SQLite(t)
		o, err := emit.Order(ctx, contract.SubjectContactAction,
			contract.ContactOrder{Order: contract.OrderContactUpdate, ContactID: "c2", UserID: "u1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.EnqueueOrders(ctx, o); err != nil {
			t.Fatal(err)
		}
		before := fn.count(contract.SubjectContactAction)
		n, err := outbox.New(outbox.Config{Grace: -1}, st, em, slog.New(slog.DiscardHandler)).Flush(ctx)
		if err != nil || n != 1 {
			t.Fatalf("relay sent %d (%v), want 1", n, err)
		}
		waitFor(t, "the relayed order reaches the function", func() bool { return fn.count(contract.SubjectContactAction) > before })
	})

	t.Run("the operator reads the dead letters, as cmd/caliopen dlq", func(t *testing.T) {
		em, err := emit.New(dial(t, url, "key-action").nc)
		if err != nil {
			t.Fatal(err)
		}
		// Not a contact_update: the connector dead-letters it at once.
		if err := em.Publish(ctx, contract.SubjectContactAction, map[string]string{"order": "nonsense"}); err != nil {
			t.Fatal(err)
		}
		js, err := jetstream.New(dial(t, url, deploy.NATSUserOperator).nc)
		if err != nil {
			t.Fatal(err)
		}
		filter := deploy.NATSDLQPrefix + "." + contract.SubjectContactAction
		var last uint64
		waitFor(t, "the dead letter", func() bool {
			stream, err := js.Stream(ctx, deploy.NATSStream+"_DLQ")
			if err != nil {
				return false
			}
			info, err := stream.Info(ctx, jetstream.WithSubjectFilter(filter))
			if err != nil {
				t.Fatal(err)
			}
			last = info.State.LastSeq
			return info.State.Msgs > 0
		})
		stream, err := js.Stream(ctx, deploy.NATSStream+"_DLQ")
		if err != nil {
			t.Fatal(err)
		}
		cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter},
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: last})
		if err != nil {
			t.Fatal(err)
		}
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if m.Headers().Get(connector.HeaderErrorCode) == "" {
			t.Errorf("dead letter without %s: %v", connector.HeaderErrorCode, m.Headers())
		}
	})

	t.Run("imap-worker cannot publish outboundSMTP", func(t *testing.T) {
		c := dial(t, url, "imap-worker")
		before := fn.count(contract.SubjectOutboundSMTP)
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := c.nc.RequestWithContext(rctx, contract.SubjectOutboundSMTP,
			[]byte(`{"message_id":"m1","order":"deliver","remote_id":"i1","user_id":"u1"}`)); err == nil {
			t.Error("the request was answered")
		}
		c.violation(t, `Publish to "outboundSMTP"`)
		time.Sleep(100 * time.Millisecond)
		if n := fn.count(contract.SubjectOutboundSMTP); n != before {
			t.Errorf("the function got %d calls, want none", n-before)
		}
	})

	t.Run("the listener cannot subscribe to a function's subject", func(t *testing.T) {
		c := dial(t, url, deploy.NATSUserSMTPListener)
		if _, err := c.nc.QueueSubscribe(contract.SubjectInboundSMTP, "SMTPqueue", func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		c.violation(t, `Subscription to "inboundSMTP"`)
	})

	t.Run("a user cannot read another's inbox", func(t *testing.T) {
		c := dial(t, url, "imap-fetch")
		for _, inbox := range []string{deploy.InboxPrefixOf("api") + ".>", "_INBOX.>", ">"} {
			if _, err := c.nc.Subscribe(inbox, func(*nats.Msg) {}); err != nil {
				t.Fatal(err)
			}
			c.violation(t, fmt.Sprintf("Subscription to %q", inbox))
		}
	})

	// Every user but the connector: no consumer of the stream, no core
	// subscription to its subjects.
	for _, u := range users(t) {
		if u.Name == deploy.NATSUserConnector {
			continue
		}
		t.Run(u.Name+" cannot consume the stream", func(t *testing.T) {
			t.Parallel()
			c := dial(t, url, u.Name)
			js, err := jetstream.New(c.nc)
			if err != nil {
				t.Fatal(err)
			}
			jctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			durable := connector.DurableName(&contract.Caliopen().Subjects[0])
			if _, err := js.Consumer(jctx, deploy.NATSStream, durable); err == nil {
				t.Error("read the connector's consumer")
			}
			if _, err := js.CreateOrUpdateConsumer(jctx, deploy.NATSStream, jetstream.ConsumerConfig{Durable: "thief"}); err == nil {
				t.Error("created a consumer")
			}
			c.violation(t, "$JS.API.CONSUMER")
			if u.Name == deploy.NATSUserOperator {
				return // the operator watches orders go by (natsusers.OperatorUser); it consumes none
			}
			if _, err := c.nc.Subscribe(contract.SubjectContactAction, func(*nats.Msg) {}); err != nil {
				t.Fatal(err)
			}
			c.violation(t, `Subscription to "contactAction"`)
		})
	}
}
