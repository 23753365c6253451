package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/store/storetest"
)

func TestSQLite(t *testing.T) { storetest.Run(t, storetest.SQLite) }

func TestPostgres(t *testing.T) {
	storetest.PostgresURL(t) // skip (or fail under CI) before spawning subtests
	storetest.Run(t, storetest.Postgres)
}

func TestOpenDSN(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{"sqlite://" + filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")} {
		s, err := store.Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("Open(%q) = %v", dsn, err)
		}
		if s.Dialect() != "sqlite" {
			t.Errorf("Open(%q).Dialect() = %q, want sqlite", dsn, s.Dialect())
		}
		s.Close()
	}
	// Reopening an up-to-date database applies nothing and keeps the data.
	s, err := store.Open(t.Context(), filepath.Join(dir, "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(t.Context(), store.User{Name: "kept"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = store.Open(t.Context(), "sqlite://"+filepath.Join(dir, "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUserByName(t.Context(), "kept"); err != nil {
		t.Errorf("user lost across reopen: %v", err)
	}
	s.Close()
	for _, dsn := range []string{"", "mysql://x", "sqlite://", "sqlite://:memory:", "a.db?mode=ro"} {
		if _, err := store.Open(t.Context(), dsn); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", dsn, err)
		}
	}
	if _, err := store.Open(t.Context(), "sqlite://"+filepath.Join(dir, "missing", "c.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

// TestNoPasswordInDatabaseFile stores an identity whose credentials hold a
// password and checks that the password's bytes appear nowhere in the
// SQLite files, while a control value stored in clear does.
func TestNoPasswordInDatabaseFile(t *testing.T) {
	const password = "correct-horse-battery-staple-8e3f"
	const control = "control-display-name-5d1a"
	line, err := secrets.NewKeyLine(nil, "k1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secrets.ParseKeyring(line)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "caliopen.db")
	ctx := context.Background()
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, store.User{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: "alice@remote.example", DisplayName: control})
	if err != nil {
		t.Fatal(err)
	}
	creds := []byte(`{"inusername":"alice","inpassword":"` + password + `","outpassword":"` + password + `"}`)
	sealed, err := ring.Seal(creds, []byte(id.ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetCredentials(ctx, u.ID, id.ID, sealed); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetIdentity(ctx, u.ID, id.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ring.Open(got.Credentials, []byte(id.ID))
	if err != nil || !bytes.Equal(plain, creds) {
		t.Fatalf("credentials read back = %q, %v; want the stored ones", plain, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if !bytes.Contains(all, []byte(control)) {
		t.Fatal("control value not found in the database files: the check cannot see stored data")
	}
	if bytes.Contains(all, []byte(password)) {
		t.Fatal("the password appears in clear in the database files")
	}
}
