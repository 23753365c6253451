package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// pubSubSubjects are the subjects of the orders the API publishes.
var pubSubSubjects = []string{contract.SubjectContactAction, contract.SubjectKeyAction, contract.SubjectIdentitiesWorker}

// order is one message seen on NATS.
type order struct {
	subject string
	data    string
	header  nats.Header
}

// env is an API served over HTTP on a real SQLite store, a blob directory,
// and a real embedded NATS with a JetStream stream capturing the
// publish/subscribe subjects, as the connector's does.
type env struct {
	t      *testing.T
	st     *store.SQL
	blobs  *dirblob.Store
	ring   *secrets.Keyring
	nc     *nats.Conn
	js     jetstream.JetStream
	srv    *httptest.Server
	orders chan order
	// early holds orders read while waiting for one on another subject:
	// each subject has its own subscription, so orders published together
	// on two subjects may arrive in either order.
	early []order
	acc   *accounts.Service
	// logPath is the file the API logs to (os.File writes are safe from
	// the server's goroutines).
	logPath string
}

// options change the environment.
type options struct {
	noStream    bool          // no stream: publishes are never acknowledged
	sendTimeout time.Duration // default 3s
}

// platform is what the API runs on in these tests: an embedded NATS with,
// unless noStream, a stream capturing the publish/subscribe subjects (as
// the connector's does), a SQLite store, a blob directory and a keyring.
type platform struct {
	url     string // the embedded server's, when the platform started one
	nc      *nats.Conn
	js      jetstream.JetStream
	emitter *emit.Emitter
	st      *store.SQL
	blobs   *dirblob.Store
	ring    *secrets.Keyring
	closers []func()
}

// close releases everything, newest first.
func (p *platform) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// startPlatform starts a platform under dir.
func startPlatform(dir string, noStream bool) (_ *platform, err error) {
	ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return nil, err
	}
	p, err := openPlatform(dir, ns.ClientURL(), noStream)
	if err != nil {
		ns.Shutdown()
		return nil, err
	}
	p.url = ns.ClientURL()
	p.closers = append([]func(){ns.Shutdown}, p.closers...)
	return p, nil
}

// openPlatform opens a platform under dir on the NATS server at url.
func openPlatform(dir, url string, noStream bool) (_ *platform, err error) {
	p := &platform{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.nc, err = nats.Connect(url); err != nil {
		return nil, err
	}
	p.closers = append(p.closers, p.nc.Close)
	if p.js, err = jetstream.New(p.nc); err != nil {
		return nil, err
	}
	if !noStream {
		_, err = p.js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "ORDERS", Subjects: pubSubSubjects})
		if err != nil {
			return nil, err
		}
	}
	if p.emitter, err = emit.New(p.nc); err != nil {
		return nil, err
	}
	p.emitter.RetryBase = 10 * time.Millisecond
	if p.st, err = store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "caliopen.db")); err != nil {
		return nil, err
	}
	p.closers = append(p.closers, func() { p.st.Close() })
	if p.blobs, err = dirblob.New(filepath.Join(dir, "blobs")); err != nil {
		return nil, err
	}
	line, err := secrets.NewKeyLine(nil, "k1")
	if err != nil {
		return nil, err
	}
	p.ring, err = secrets.ParseKeyring(line)
	return p, err
}

// deps returns the API's dependencies on p, logging to w.
func (p *platform) deps(w io.Writer) api.Deps {
	return api.Deps{Store: p.st, Blobs: p.blobs, Emitter: p.emitter, Sealer: p.ring,
		Logger: slog.New(slog.NewJSONHandler(w, nil)).With("fn", "api")}
}

func setup(t *testing.T, o options) *env {
	t.Helper()
	dir := t.TempDir()
	p, err := startPlatform(dir, o.noStream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	e := &env{t: t, st: p.st, blobs: p.blobs, ring: p.ring, nc: p.nc, js: p.js, orders: make(chan order, 100),
		logPath: filepath.Join(dir, "api.log")}
	for _, s := range pubSubSubjects {
		if _, err := p.nc.Subscribe(s, func(m *nats.Msg) { e.orders <- order{m.Subject, string(m.Data), m.Header} }); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	cfg := api.Config{LocalDomain: "example.test", BcryptCost: bcrypt.MinCost, SendTimeout: o.sendTimeout,
		PublishTimeout: 300 * time.Millisecond, MaxBodyBytes: 64 << 10, TrustedProxyHops: 1}
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = 3 * time.Second
	}
	h, err := api.New(cfg, p.deps(logs))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	if e.acc, err = accounts.New(accounts.Config{LocalDomain: "example.test", BcryptCost: bcrypt.MinCost}, e.st); err != nil {
		t.Fatal(err)
	}
	return e
}

// logs returns what the API logged so far.
func (e *env) logs() string {
	e.t.Helper()
	b, err := os.ReadFile(e.logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// with returns the environment for the (sub)test t.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// user creates an account directly in the store (as caliopen-admin does).
func (e *env) user(name string, admin bool) store.User {
	e.t.Helper()
	u, _, err := e.acc.CreateUser(context.Background(), accounts.NewUser{Name: name, Password: name + "-password",
		IsAdmin: admin, RecoveryEmail: name + "@recovery.example"})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// login logs name in through the API and returns the token.
func (e *env) login(name string) string {
	e.t.Helper()
	r := e.do("POST", "/api/v2/authentications", "", map[string]string{"username": name, "password": name + "-password"})
	r.want(e.t, http.StatusOK)
	return r.json(e.t)["access_token"].(string)
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; body is sent as is when it is a string, else as JSON.
func (e *env) do(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// want fails the test unless the status is status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// json decodes the body as an object.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// wantError checks a JSON error answer: status, code, and a message
// holding each of msgs.
func (r response) wantError(t *testing.T, status int, code string, msgs ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	m := r.json(t)
	if m["error"] != code {
		t.Errorf("error %v, want %q; body %s", m["error"], code, r.body)
	}
	msg, _ := m["message"].(string)
	if msg == "" {
		t.Errorf("no message in %s", r.body)
	}
	for _, w := range msgs {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
}

// id returns a string field of the body.
func (r response) id(t *testing.T, field string) string {
	t.Helper()
	v, _ := r.json(t)[field].(string)
	if v == "" {
		t.Fatalf("no %s in %s", field, r.body)
	}
	return v
}

// nextOrder waits for the next order on NATS.
func (e *env) nextOrder() order {
	e.t.Helper()
	if len(e.early) > 0 {
		o := e.early[0]
		e.early = e.early[1:]
		return o
	}
	select {
	case o := <-e.orders:
		return o
	case <-time.After(3 * time.Second):
		e.t.Fatal("no order on NATS")
	}
	return order{}
}

// orderOn returns the next order on subject; orders on other subjects that
// arrive first are kept, in their order, for the next calls.
func (e *env) orderOn(subject string) order {
	e.t.Helper()
	for i, o := range e.early {
		if o.subject == subject {
			e.early = append(e.early[:i:i], e.early[i+1:]...)
			return o
		}
	}
	deadline := time.After(3 * time.Second)
	for {
		select {
		case o := <-e.orders:
			if o.subject == subject {
				return o
			}
			e.early = append(e.early, o)
		case <-deadline:
			e.t.Fatalf("no order on %s (others pending: %d)", subject, len(e.early))
			return order{}
		}
	}
}

// noOrder checks that no order arrives for a moment.
func (e *env) noOrder() {
	e.t.Helper()
	for _, o := range e.early {
		e.t.Errorf("unexpected order on %s: %s", o.subject, o.data)
	}
	e.early = nil
	select {
	case o := <-e.orders:
		e.t.Errorf("unexpected order on %s: %s", o.subject, o.data)
	case <-time.After(100 * time.Millisecond):
	}
}

// golden returns the seed's payload of file (internal/contract's golden
// payloads) with each "<field>-value" replaced by values[field].
func golden(t *testing.T, file string, values map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "contract", "testdata", "payloads", file))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	for k, v := range values {
		q, _ := json.Marshal(v)
		s = strings.ReplaceAll(s, `"`+k+`-value"`, string(q))
	}
	if strings.Contains(s, "-value\"") {
		t.Fatalf("golden %s: a field was left unset: %s", file, s)
	}
	return s
}

// wantOrder checks that the next order is on subject with exactly the
// bytes of the golden payload file filled with values.
func (e *env) wantOrder(subject, file string, values map[string]string) order {
	e.t.Helper()
	o := e.orderOn(subject)
	want := golden(e.t, file, values)
	if o.subject != subject || o.data != want {
		e.t.Errorf("order on %s: %s\nwant on %s: %s", o.subject, o.data, subject, want)
	}
	return o
}

// responder records the requests it answered.
type responder struct {
	mu   sync.Mutex
	seen []string
}

func (e *env) respond(t *testing.T, subject string, reply []byte) *responder {
	t.Helper()
	r := &responder{}
	sub, err := e.nc.Subscribe(subject, func(m *nats.Msg) {
		r.mu.Lock()
		r.seen = append(r.seen, string(m.Data))
		r.mu.Unlock()
		if reply != nil {
			_ = m.Respond(reply)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

// respond answers requests on subject with reply (nil: never answers)
// until t ends, and records the request bodies.
// wantLast checks that n requests came, the last with exactly the bytes of
// the golden payload file filled with values.
func (r *responder) wantLast(t *testing.T, n int, file string, values map[string]string) {
	t.Helper()
	want := golden(t, file, values)
	if got := r.requests(); len(got) != n || got[n-1] != want {
		t.Errorf("requests %q, want %d, the last %s", got, n, want)
	}
}

// requests returns the request bodies seen so far.
func (r *responder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}
