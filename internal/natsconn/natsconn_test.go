package natsconn

import (
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/caliopen/functions/internal/testcert"
)

// TestNATSAuth connects with each authentication the connector offers to a
// server that requires it, and fails with the wrong secret.
func TestNATSAuth(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	os.WriteFile(seedFile, seed, 0o600)
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherFile := filepath.Join(t.TempDir(), "other.nk")
	os.WriteFile(otherFile, otherSeed, 0o600)
	certFile, keyFile := testcert.New(t).Files(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}

	credsFile, strangerCreds, operator, resolver := operatorMode(t)

	tests := []struct {
		name   string
		server server.Options
		good   Config
		bad    Config
	}{
		{"user and password", server.Options{Username: "conn", Password: "pw"},
			Config{User: "conn", Password: "pw"}, Config{User: "conn", Password: "nope"}},
		{"token", server.Options{Authorization: "tok"}, Config{Token: "tok"}, Config{Token: "other"}},
		{"nkey", server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}}, Config{NKeySeedFile: seedFile}, Config{NKeySeedFile: otherFile}},
		{"creds (operator mode)", server.Options{TrustedOperators: []*jwt.OperatorClaims{operator}, AccountResolver: resolver},
			Config{CredsFile: credsFile}, Config{CredsFile: strangerCreds}},
		{"tls", server.Options{TLS: true, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}},
			Config{TLSCAFile: certFile}, Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.server
			o.Host, o.Port, o.NoLog, o.NoSigs = "127.0.0.1", -1, true, true
			s, err := server.NewServer(&o)
			if err != nil {
				t.Fatal(err)
			}
			go s.Start()
			if !s.ReadyForConnections(5 * time.Second) {
				t.Fatal("server not ready")
			}
			defer s.Shutdown()
			url := s.ClientURL()
			if o.TLS {
				url = "tls://" + s.Addr().String()
			}
			dial := func(c Config) error {
				c.Name = "test"
				opts, err := c.Options(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
				if err != nil {
					return err
				}
				opts = append(opts, nats.RetryOnFailedConnect(false), nats.MaxReconnects(0))
				nc, err := nats.Connect(url, opts...)
				if err == nil {
					nc.Close()
				}
				return err
			}
			if err := dial(tt.good); err != nil {
				t.Errorf("good credentials refused: %v", err)
			}
			if err := dial(tt.bad); err == nil {
				t.Error("bad credentials accepted")
			}
		})
	}
	if _, err := (Config{NKeySeedFile: "/nonexistent/seed"}).Options(slog.Default(), nil); err == nil {
		t.Error("missing seed file accepted")
	}
}

// operatorMode makes an operator, an account it signs (known to the
// returned resolver) with a user, and a user of an account the operator
// never signed; it returns the two users' creds files.
func operatorMode(t *testing.T) (credsFile, strangerCreds string, operator *jwt.OperatorClaims, resolver server.AccountResolver) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, err := okp.PublicKey()
	must(err)
	operator = jwt.NewOperatorClaims(opub)
	ojwt, err := operator.Encode(okp)
	must(err)
	operator, err = jwt.DecodeOperatorClaims(ojwt)
	must(err)
	mem := &server.MemAccResolver{}
	pair := func(create func() (nkeys.KeyPair, error)) (nkeys.KeyPair, string) {
		kp, err := create()
		must(err)
		pub, err := kp.PublicKey()
		must(err)
		return kp, pub
	}
	user := func(accountKey nkeys.KeyPair) string {
		ukp, upub := pair(nkeys.CreateUser)
		ujwt, err := jwt.NewUserClaims(upub).Encode(accountKey)
		must(err)
		seed, err := ukp.Seed()
		must(err)
		creds, err := jwt.FormatUserConfig(ujwt, seed)
		must(err)
		f := filepath.Join(t.TempDir(), "user.creds")
		must(os.WriteFile(f, creds, 0o600))
		return f
	}
	account := func(signer nkeys.KeyPair, known bool) nkeys.KeyPair {
		akp, apub := pair(nkeys.CreateAccount)
		ajwt, err := jwt.NewAccountClaims(apub).Encode(signer)
		must(err)
		if known {
			must(mem.Store(apub, ajwt))
		}
		return akp
	}
	credsFile = user(account(okp, true))
	other, err := nkeys.CreateOperator()
	must(err)
	strangerCreds = user(account(other, false))
	return credsFile, strangerCreds, operator, mem
}

// TestInboxPrefix reads NATS_INBOX_PREFIX, refuses one the server could not
// route, and makes requests wait for their replies under it.
func TestInboxPrefix(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		ok     bool
	}{{"", true}, {"_INBOX_api", true}, {"_INBOX.api", true}, {"_INBOX.*", false}, {"_INBOX.>", false},
		{"_INBOX.", false}, {".x", false}, {"a..b", false}, {"a b", false}} {
		_, err := LoadConfig(func(k string) string {
			if k == "NATS_INBOX_PREFIX" {
				return tt.prefix
			}
			return ""
		}, "t")
		if (err == nil) != tt.ok {
			t.Errorf("NATS_INBOX_PREFIX %q: err = %v, want ok %v", tt.prefix, err, tt.ok)
		}
	}

	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	cfg, err := LoadConfig(func(k string) string {
		return map[string]string{"NATS_URL": s.ClientURL(), "NATS_INBOX_PREFIX": "_INBOX_api"}[k]
	}, "t")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	nc, err := cfg.Connect(logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	replies := make(chan string, 1)
	sub, err := nc.Subscribe("echo", func(m *nats.Msg) { replies <- m.Reply; m.Respond(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if _, err := nc.Request("echo", []byte("x"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := <-replies; len(got) < len("_INBOX_api.") || got[:len("_INBOX_api.")] != "_INBOX_api." {
		t.Errorf("reply subject %q, want it under _INBOX_api.", got)
	}
}
