package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds everything that differs between the two databases once the
// schema exists: the driver, the placeholder style and the error codes.
// Queries are written once, with '?' placeholders.
type dialect struct {
	name     string
	driver   string
	goose    goose.Dialect
	dollar   bool // PostgreSQL: rewrite '?' into $1, $2, ...
	classify func(error) error
	// skipLocked ends a subquery that selects rows to claim: PostgreSQL
	// skips the rows another transaction is claiming; SQLite has one
	// writer and no row locks.
	skipLocked string
}

var (
	sqliteDialect = dialect{
		name:     "sqlite",
		driver:   "sqlite",
		goose:    goose.DialectSQLite3,
		classify: classifySQLite,
	}
	postgresDialect = dialect{
		name:     "postgres",
		driver:   "pgx",
		goose:    goose.DialectPostgres,
		dollar:   true,
		classify: classifyPostgres,
		// skipLocked: see dialect.
		skipLocked: " FOR UPDATE SKIP LOCKED",
	}
)

// rebind rewrites the '?' placeholders of query for the dialect. Queries in
// this package contain no '?' other than placeholders.
func (d *dialect) rebind(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

func classifySQLite(err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: referenced object missing: %w", ErrNotFound, err)
		}
	}
	return err
}

func classifyPostgres(err error) error {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		switch e.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: referenced object missing: %w", ErrNotFound, err)
		}
	}
	return err
}
