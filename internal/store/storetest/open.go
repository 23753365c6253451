package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/caliopen/functions/internal/peertest"
	"github.com/caliopen/functions/internal/store"
)

// EnvPostgresURL names the variable holding the URL of a PostgreSQL server
// the tests may create schemas on, such as
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const EnvPostgresURL = "CALIOPEN_TEST_POSTGRES_URL"

// SQLite opens a store on a fresh SQLite file in a temporary directory.
func SQLite(t *testing.T) *store.SQL {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "caliopen.db"))
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresURL returns the server URL from CALIOPEN_TEST_POSTGRES_URL. When
// it is unset the test is skipped, except under CI=true, where a missing
// server is a failure: CI must test PostgreSQL.
func PostgresURL(t *testing.T) string {
	t.Helper()
	return peertest.Env(t, EnvPostgresURL, "start one with scripts/test-peers/postgres.sh")
}

// Postgres opens a store in a fresh schema of the server named by
// CALIOPEN_TEST_POSTGRES_URL; the schema is dropped when the test ends.
func Postgres(t *testing.T) *store.SQL {
	t.Helper()
	base := PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", EnvPostgresURL, err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	rand.Read(b[:])
	schema := "caliopen_test_" + hex.EncodeToString(b[:])
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(c, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema on %s: %v", EnvPostgresURL, err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(c, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgresURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := store.Open(c, u.String())
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
