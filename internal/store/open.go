package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations
var migrations embed.FS

// SQL is the store on database/sql. It implements every role interface of
// this package and is safe for concurrent use. Build it with Open.
type SQL struct {
	d *dialect
	r *sql.DB // reads
	w *sql.DB // writes; the same pool as r on PostgreSQL
	// rc and wc are the prepared statements of r and w (one cache when the
	// pools are one).
	rc, wc *stmtCache
	// batch commits SQLite's writes in groups; nil on PostgreSQL.
	batch *batcher
	now   func() time.Time
}

// Open connects to the database named by dsn and applies the pending
// migrations. A dsn of the form postgres://... or postgresql://... selects
// PostgreSQL; sqlite:///path/to/file.db, sqlite://relative.db or a plain file
// path selects SQLite (the file is created if missing, its directory is not).
//
// On SQLite, writes go through one connection (SQLite has one writer) with
// WAL, foreign keys and a busy timeout, and concurrent writes share a
// commit (group commit, see batcher); reads use a small separate pool.
func Open(ctx context.Context, dsn string) (*SQL, error) {
	kind, target, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	var s *SQL
	switch kind {
	case "postgres":
		s, err = openPostgres(target)
	default:
		s, err = openSQLite(target)
	}
	if err != nil {
		return nil, err
	}
	s.now = time.Now
	s.wc = newStmtCache(s.w)
	s.rc = s.wc
	if s.r != s.w {
		s.rc = newStmtCache(s.r)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if kind == "sqlite" {
		s.batch = newBatcher(s.w, s.wc, s.d)
	}
	return s, nil
}

// parseDSN returns "postgres" or "sqlite" and what to hand to the driver.
func parseDSN(dsn string) (kind, target string, err error) {
	switch {
	case dsn == "":
		return "", "", fmt.Errorf("open store: %w: empty dsn", ErrInvalid)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "postgres", dsn, nil
	case strings.HasPrefix(dsn, "sqlite://"):
		dsn = strings.TrimPrefix(dsn, "sqlite://")
	case strings.Contains(dsn, "://"):
		return "", "", fmt.Errorf("open store: %w: unknown scheme in dsn (want postgres:// or sqlite://)", ErrInvalid)
	}
	if dsn == "" || strings.ContainsAny(dsn, "?#") || strings.Contains(dsn, ":memory:") {
		return "", "", fmt.Errorf("open store: %w: want a SQLite file path without '?', '#' or :memory:, got %q", ErrInvalid, dsn)
	}
	return "sqlite", dsn, nil
}

func openSQLite(path string) (*SQL, error) {
	if err := privateFiles(path); err != nil {
		return nil, err
	}
	// temp_store MEMORY keeps statement and savepoint journals (the
	// batcher runs every write in a savepoint) in memory rather than in
	// temporary files written page by page.
	//
	// cache_size: SQLite's default page cache (2 MiB a connection) holds
	// little of a store with many identities, and every page it misses is
	// a pread system call; the scheduler's claims at 100,000 identities
	// spent 30 % of their CPU there (docs/benchmarks.md). The writer's
	// cache grows as pages are read, up to 32 MiB; it stays valid across
	// transactions, since no other connection writes. The readers keep the
	// default: a reader drops its whole cache at its first read after any
	// write, and dropping a larger one costs more (2 % of the outbound
	// path's CPU with 16 MiB a reader).
	const common = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"
	w, err := sql.Open("sqlite", "file:"+path+"?"+common+
		"&_pragma=cache_size(-32768)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	// The writer connects first so the file exists in WAL mode before any reader.
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// Keep every reader open: a reader closed for lack of an idle slot
	// (database/sql keeps 2 by default) is reopened, schema and prepared
	// statements included, on the next burst of reads.
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	r.SetConnMaxIdleTime(0)
	return &SQL{d: &sqliteDialect, r: r, w: w}, nil
}

// privateFiles creates the database file readable by its owner only (mode
// 0600), or takes an existing one and its -wal and -shm files down to that
// mode. SQLite creates the -wal and -shm files with the mode of the
// database file, so they are private too.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("open sqlite %s: make it private: %w", p, err)
		}
	}
	return nil
}

func openPostgres(dsn string) (*SQL, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w: %w", ErrInvalid, err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &SQL{d: &postgresDialect, r: db, w: db}, nil
}

// migrate applies the embedded migrations of the dialect. On PostgreSQL an
// advisory lock serialises functions that start at the same time.
func (s *SQL) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations/"+s.d.name)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if s.d == &postgresDialect {
		locker, err := s.migrationLock(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(s.d.goose, s.w, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", s.d.name, err)
	}
	return nil
}

// migrationLock returns an advisory lock for migrating the current schema of
// the current database: stores in other schemas or databases of the same
// server do not wait for each other. It is polled every second for 5 min.
func (s *SQL) migrationLock(ctx context.Context) (lock.SessionLocker, error) {
	var db, schema string
	if err := s.w.QueryRowContext(ctx, `SELECT current_database(), current_schema()`).Scan(&db, &schema); err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte("caliopen-migrate\x00" + db + "\x00" + schema))
	return lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64())), lock.WithLockTimeout(1, 300))
}

// Dialect returns "sqlite" or "postgres".
func (s *SQL) Dialect() string { return s.d.name }

// Ping checks that the database answers.
func (s *SQL) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.d.name, err)
	}
	return nil
}

// Close releases the connections. The store is unusable afterwards.
func (s *SQL) Close() error {
	if s.batch != nil {
		s.batch.close()
	}
	err := s.wc.close()
	if s.rc != s.wc {
		err = errors.Join(err, s.rc.close())
	}
	err = errors.Join(err, s.w.Close())
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}
