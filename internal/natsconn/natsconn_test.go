package natsconn

import (
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

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
