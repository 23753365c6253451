package platform_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/platform"
)

// The local system keeps recent raw messages in memory for the functions
// of its one process; a function configured from the environment, alone
// in its pod, keeps none.
func TestRecentRawOnlyInTheLocalSystem(t *testing.T) {
	ns, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	dir := t.TempDir()
	env := map[string]string{"CALIOPEN_STORE_DSN": "sqlite://" + dir + "/env.db", "CALIOPEN_BLOB_DIR": dir + "/env-blobs",
		"NATS_URL": ns.ClientURL()}
	fromEnv, err := platform.LoadConfig(func(k string) string { return env[k] }, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		cfg    platform.Config
		recent bool
	}{
		{"local system", platform.Local(dir, ns.ClientURL(), "test"), true},
		{"function from the environment", fromEnv, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := platform.Open(context.Background(), tc.cfg, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			switch d.Blobs.(type) {
			case *blob.Recent:
				if !tc.recent {
					t.Error("blobs kept in memory")
				}
			case *dirblob.Store:
				if tc.recent {
					t.Error("blobs not kept in memory")
				}
			default:
				t.Errorf("blobs are a %T", d.Blobs)
			}
		})
	}
}
