package skeleton

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

// TestServe runs the core on a real store (SQLite), one row per outcome.
func TestServe(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	u, err := st.CreateUser(ctx, store.User{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	core, err := Build(func(string) string { return "" }, Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		payload any
		message string // the reply's, on success
		perm    bool   // a permanent error
	}{
		{"known user", &contract.DeliverOrder{Order: "deliver", UserID: u.ID, MessageID: "m1"}, MessageChecked, false},
		{"unknown user", &contract.DeliverOrder{Order: "deliver", UserID: "nobody", MessageID: "m1"}, "", true},
		{"another payload", &contract.ContactOrder{Order: "contact_update"}, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := core(ctx, &fnhttp.Call{Request: &contract.Request{Payload: tt.payload}, Logger: slog.New(slog.DiscardHandler)})
			if tt.perm {
				if !faults.IsPermanent(err) {
					t.Fatalf("%+v %v, want a permanent error", res, err)
				}
				return
			}
			if err != nil || res.Message != tt.message {
				t.Fatalf("%+v %v, want %q", res, err, tt.message)
			}
		})
	}
	if _, err := LoadConfig(func(string) string { return "soon" }); err == nil {
		t.Errorf("LoadConfig with a bad %s: %v, want an error", EnvTimeout, err)
	}
}
