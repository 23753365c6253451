package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nuid"

	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/store"
)

// storeTarget is one database to measure.
type storeTarget struct {
	name    string
	dsn     string // for store.Open
	driver  string // for the raw baseline
	rawDSN  string
	cleanup func()
	param   func(i int) string // the dialect's i-th (1-based) query parameter
}

// benchStore writes n received messages through the store and lists them
// back in pages of 100, beside the same rows written and read with plain
// database/sql statements on the same database (the baseline).
func benchStore(ctx context.Context, out io.Writer, t storeTarget, n int, record func(...benchresult.Figure)) error {
	defer t.cleanup()
	s, err := store.Open(ctx, t.dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.CreateUser(ctx, store.User{Name: "bench", PasswordHash: "x", RecoveryEmail: "bench@example.org"})
	if err != nil {
		return err
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		m := store.Message{UserID: u.ID, IdentityIDs: []string{"i1"}, Protocol: store.ProtocolEmail,
			Subject: fmt.Sprintf("message %d", i), BodyPlain: strings.Repeat("x", 1024), IsReceived: true, IsUnread: true,
			DateSort: time.Unix(int64(1_700_000_000+i), 0), External: store.ExternalRefs{MessageID: nuid.Next() + "@bench"},
			Participants: []store.Participant{{Type: "From", Address: "a@example.org"}, {Type: "To", Address: "bench@example.org"}}}
		if _, _, err := s.PutInbound(ctx, m); err != nil {
			return fmt.Errorf("put: %w", err)
		}
	}
	write := time.Since(start)
	start = time.Now()
	listed, after := 0, ""
	for {
		ms, next, err := s.ListMessages(ctx, u.ID, store.MessageFilter{}, store.Page{Limit: 100, After: after})
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		listed += len(ms)
		if next == "" || len(ms) == 0 {
			break
		}
		after = next
	}
	list := time.Since(start)
	if listed != n {
		return fmt.Errorf("listed %d of %d messages", listed, n)
	}

	// Baseline: the same volume with plain statements, one autocommit
	// insert per row, and keyset pages of 100.
	db, err := sql.Open(t.driver, t.rawDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE bench_raw (id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
		subject TEXT NOT NULL, body TEXT NOT NULL, date_sort BIGINT NOT NULL, message_id TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("baseline table: %w", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE INDEX bench_raw_user_date ON bench_raw (user_id, date_sort)`); err != nil {
		return fmt.Errorf("baseline index: %w", err)
	}
	p := t.param
	ins := fmt.Sprintf(`INSERT INTO bench_raw VALUES (%s, %s, %s, %s, %s, %s)`, p(1), p(2), p(3), p(4), p(5), p(6))
	start = time.Now()
	for i := 0; i < n; i++ {
		if _, err := db.ExecContext(ctx, ins, nuid.Next(), u.ID, fmt.Sprintf("message %d", i), strings.Repeat("x", 1024),
			1_700_000_000+i, nuid.Next()+"@bench"); err != nil {
			return fmt.Errorf("baseline insert: %w", err)
		}
	}
	rawWrite := time.Since(start)
	sel := fmt.Sprintf(`SELECT id, user_id, subject, body, date_sort, message_id FROM bench_raw
		WHERE user_id = %s AND date_sort < %s ORDER BY date_sort DESC LIMIT 100`, p(1), p(2))
	start = time.Now()
	rawListed, cursor := 0, int64(1<<62)
	for {
		rows, err := db.QueryContext(ctx, sel, u.ID, cursor)
		if err != nil {
			return fmt.Errorf("baseline select: %w", err)
		}
		got := 0
		for rows.Next() {
			var id, uid, subj, body, mid string
			if err := rows.Scan(&id, &uid, &subj, &body, &cursor, &mid); err != nil {
				rows.Close()
				return err
			}
			got++
		}
		rows.Close()
		rawListed += got
		if got < 100 {
			break
		}
	}
	rawList := time.Since(start)
	if rawListed != n {
		return fmt.Errorf("baseline listed %d of %d", rawListed, n)
	}
	rate := func(d time.Duration) float64 { return float64(n) / d.Seconds() }
	fmt.Fprintf(out, "%-10s write %8.0f msg/s (baseline %8.0f, ratio %.2f)   list %8.0f msg/s (baseline %8.0f, ratio %.2f)\n",
		t.name, rate(write), rate(rawWrite), rawWrite.Seconds()/write.Seconds(), rate(list), rate(rawList), rawList.Seconds()/list.Seconds())
	key := "store/" + strings.ToLower(t.name)
	record(benchresult.Higher(key+"-write", t.name+": received messages written one by one", rate(write), rate(rawWrite), "msg/s", "plain SQL"),
		benchresult.Higher(key+"-list", t.name+": listed in pages of 100", rate(list), rate(rawList), "msg/s", "plain SQL"))
	return nil
}

func sqliteTarget(dir string) storeTarget {
	path := filepath.Join(dir, "bench.db")
	return storeTarget{
		name: "SQLite", dsn: "sqlite://" + path, driver: "sqlite",
		rawDSN:  "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)",
		cleanup: func() {},
		param:   func(int) string { return "?" },
	}
}

// postgresTarget makes a throwaway database on the server at serverURL.
func postgresTarget(ctx context.Context, serverURL string) (storeTarget, error) {
	admin, err := sql.Open("pgx", serverURL)
	if err != nil {
		return storeTarget{}, err
	}
	name := "caliopen_bench_" + strings.ToLower(nuid.Next())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return storeTarget{}, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		admin.Close()
		return storeTarget{}, err
	}
	u.Path = "/" + name
	return storeTarget{
		name: "PostgreSQL", dsn: u.String(), driver: "pgx", rawDSN: u.String(),
		cleanup: func() {
			admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			admin.Close()
		},
		param: func(i int) string { return fmt.Sprintf("$%d", i) },
	}, nil
}
