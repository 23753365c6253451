package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/tracing"
)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs '?' queries on a pool or a transaction, rebinding placeholders
// for the dialect (the one place where they differ) and using the pool's
// prepared statements.
type conn struct {
	q     querier
	tx    *sql.Tx    // set inside a transaction
	cache *stmtCache // the pool's statements
	d     *dialect
	// later collects the queries a transaction prepared for itself: on
	// SQLite the transaction holds the only writer connection, so the pool
	// can prepare them for the cache only once it has ended.
	later *[]string
	// batch, when set outside a transaction, takes this connection's
	// writes into a group commit (SQLite).
	batch *batcher
	// txSpan, set inside a transaction whose span records, is the parent
	// of its statements' spans: the caller's context, which the statements
	// get, carries the caller's span.
	txSpan trace.Span
}

// stmt returns a prepared statement of query for this connection, or nil
// when the query should run unprepared. A transaction's own statements
// close with it; the pool's live until Close.
func (c conn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if c.tx != nil {
		if st, ok := c.cache.lookup(query); ok {
			return c.tx.StmtContext(ctx, st), nil
		}
		*c.later = append(*c.later, query)
		return c.tx.PrepareContext(ctx, query)
	}
	return c.cache.get(ctx, query)
}

// traceQuery opens the span of one statement when ctx's span records
// (package tracing); the statement's text names no value, its arguments
// are not recorded.
func (c conn) traceQuery(ctx context.Context, op, query string) (context.Context, trace.Span) {
	if c.txSpan != nil {
		ctx = trace.ContextWithSpan(ctx, c.txSpan)
	}
	ctx, span := tracing.Start(ctx, "store "+op, trace.SpanKindClient)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("db.query.text", query))
	}
	return ctx, span
}

func (c conn) exec(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	if c.batch == nil || c.tx != nil {
		var span trace.Span
		ctx, span = c.traceQuery(ctx, "exec", query)
		defer func() { tracing.End(span, err) }()
	}
	if c.batch != nil && c.tx == nil {
		var res sql.Result
		err := c.batch.do(ctx, func(tc conn) error {
			var err error
			res, err = tc.exec(ctx, query, args...)
			return err
		})
		return res, err
	}
	query = c.d.rebind(query)
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		return c.q.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (rows *sql.Rows, err error) {
	ctx, span := c.traceQuery(ctx, "query", query)
	defer func() { tracing.End(span, err) }()
	query = c.d.rebind(query)
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		return c.q.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// row runs a query returning at most one row. It must not be used on a
// batched writer outside a transaction: the row would be read after the
// commit; scan it inside s.tx instead.
func (c conn) row(ctx context.Context, query string, args ...any) *sql.Row {
	if c.batch != nil && c.tx == nil {
		panic("store: row on the batched writer outside a transaction")
	}
	ctx, span := c.traceQuery(ctx, "row", query)
	defer span.End()
	query = c.d.rebind(query)
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		return c.q.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// read returns the connection for reads outside a transaction.
func (s *SQL) read() conn { return conn{q: s.r, cache: s.rc, d: s.d} }

// write returns the connection for single-statement writes.
func (s *SQL) write() conn { return conn{q: s.w, cache: s.wc, d: s.d, batch: s.batch} }

// tx runs fn in a write transaction, committed when fn returns nil. On
// SQLite the transaction may be shared with other writes (group commit);
// fn must then not write through s itself.
func (s *SQL) tx(ctx context.Context, fn func(c conn) error) (err error) {
	ctx, span := tracing.Start(ctx, "store tx", trace.SpanKindClient)
	defer func() { tracing.End(span, err) }()
	if span.IsRecording() {
		inner := fn
		fn = func(c conn) error {
			c.txSpan = span
			return inner(c)
		}
	}
	if s.batch != nil {
		return s.batch.do(ctx, fn)
	}
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var later []string
	defer func() {
		for _, q := range later { // the writer is free again: cache them
			s.wc.get(ctx, q) // a failure only means the next call prepares again
		}
	}()
	if err := fn(conn{q: t, tx: t, cache: s.wc, d: s.d, later: &later}); err != nil {
		return errors.Join(err, ignoreDone(t.Rollback()))
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// writeRow runs a write that returns one row (RETURNING) and scans it with
// scan, inside the write's transaction when writes are batched.
func (s *SQL) writeRow(ctx context.Context, scan func(scanner) error, query string, args ...any) error {
	if s.batch == nil {
		return scan(s.write().row(ctx, query, args...))
	}
	return s.tx(ctx, func(c conn) error { return scan(c.row(ctx, query, args...)) })
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// affected returns ErrNotFound when res changed no row.
func affected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// newID returns a fresh UUID string.
func newID() string { return uuid.NewString() }

// orNewID returns id, or a fresh UUID when id is empty.
func orNewID(id string) string {
	if id == "" {
		return newID()
	}
	return id
}

// stamp returns the current time as the store keeps it.
func (s *SQL) stamp() time.Time { return norm(s.now()) }

// norm returns t in UTC at microsecond precision, the form the store keeps.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// orNow returns norm(t), or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return norm(t)
}

// micros is the column value of t: microseconds since the epoch, NULL for
// the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// timeCol scans a micros column into a time.Time (zero for NULL).
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(x).UTC()
	default:
		return fmt.Errorf("timestamp column: unexpected %T", v)
	}
	return nil
}

// jsonCol scans a JSON or JSONB column into dst. Empty lists and objects
// leave dst untouched, so they read back as nil.
type jsonCol struct{ dst any }

func (c jsonCol) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("json column: unexpected %T", v)
	}
	if s := string(b); s == "[]" || s == "{}" || s == "null" {
		return nil
	}
	return json.Unmarshal(b, c.dst)
}

// jsonList is the column value of a list: JSON text, "[]" when empty.
func jsonList[T any](v []T) string {
	if len(v) == 0 {
		return "[]"
	}
	return mustJSON(v)
}

// jsonMap is the column value of a map: JSON text, "{}" when empty.
func jsonMap(v map[string]string) string {
	if len(v) == 0 {
		return "{}"
	}
	return mustJSON(v)
}

// mustJSON marshals values of this package's own types (strings, numbers,
// booleans and structs of them), for which encoding/json cannot fail.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// nullStr is the column value of a string that is NULL when empty.
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// strCol scans a nullable text column (NULL gives "").
type strCol struct{ s *string }

func (c strCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.s = ""
	case string:
		*c.s = x
	case []byte:
		*c.s = string(x)
	default:
		return fmt.Errorf("text column: unexpected %T", v)
	}
	return nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect scans every row of rows with scan.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// one runs a write that must change at least one row; it returns
// sql.ErrNoRows when none matched.
func (c conn) one(ctx context.Context, query string, args ...any) error {
	res, err := c.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	return affected(res)
}

// all runs q and scans every row with scan; op names the operation in errors.
func all[T any](ctx context.Context, s *SQL, op string, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	return allOn(ctx, s.read(), s, op, scan, q, args...)
}

// allOn is all on connection c (a transaction's, to read what it wrote).
func allOn[T any](ctx context.Context, c conn, s *SQL, op string, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out, err := collect(rows, scan)
	if err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// first runs q, which selects at most one row, and scans that row; no row
// gives ErrNotFound.
func first[T any](ctx context.Context, s *SQL, op string, scan func(scanner) (T, error), q string, args ...any) (T, error) {
	v, err := scan(s.read().row(ctx, q, args...))
	if err != nil {
		var zero T
		return zero, s.fail(op, err)
	}
	return v, nil
}
