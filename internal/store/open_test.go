package store

import (
	"database/sql"
	"fmt"
	"testing"
)

// TestSQLiteSettings checks the pragmas every SQLite connection runs with:
// a setting lost from the DSN changes durability or speed without failing
// any behavioural test.
func TestSQLiteSettings(t *testing.T) {
	s := openBatched(t)
	pools := []struct {
		name string
		db   *sql.DB
		want map[string]string
	}{
		{"writer", s.w, map[string]string{"journal_mode": "wal", "synchronous": "1", "foreign_keys": "1",
			"temp_store": "2", "busy_timeout": "10000", "query_only": "0", "cache_size": "-32768"}},
		{"reader", s.r, map[string]string{"journal_mode": "wal", "foreign_keys": "1",
			"temp_store": "2", "busy_timeout": "10000", "query_only": "1", "cache_size": "-2000"}},
	}
	for _, p := range pools {
		for pragma, want := range p.want {
			var got string
			if err := p.db.QueryRowContext(t.Context(), fmt.Sprintf("PRAGMA %s", pragma)).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", p.name, pragma, err)
			}
			if got != want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", p.name, pragma, got, want)
			}
		}
	}
}
