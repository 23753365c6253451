// Package platform opens what every function shares: the record store, the
// blob store, the NATS connection with its emitter, and the credentials
// keyring. Function images open them from the environment; the local system
// passes a data directory and gets embedded defaults.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/blob/s3blob"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/natsconn"
	"github.com/caliopen/functions/internal/secretenv"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// Config says where the shared dependencies are.
type Config struct {
	// StoreDSN is CALIOPEN_STORE_DSN (or the file named by
	// CALIOPEN_STORE_DSN_FILE): postgres://... or sqlite:///path. Required.
	StoreDSN string
	// BlobBackend is CALIOPEN_BLOB_BACKEND: dir (default) or s3.
	BlobBackend string
	// BlobDir is CALIOPEN_BLOB_DIR, required for the dir backend.
	BlobDir string
	// S3 is read from CALIOPEN_S3_* for the s3 backend.
	S3 s3blob.Config
	// NATS is read from NATS_URL and the other natsconn variables.
	NATS natsconn.Config
	// RecentRaw is how many bytes of the raw messages last stored are
	// kept in memory (blob.Recent) for the functions of the same process
	// that read them next: the local system, where the SMTP listener and
	// imap-fetch store what inbound-email reads a moment later. 0 keeps
	// none, as a function alone in its pod has no use for them.
	RecentRaw int64
}

// LocalRecentRaw is the local system's Config.RecentRaw: 4 MiB, about a
// thousand 4 KB messages, where 32 are in flight.
const LocalRecentRaw = 4 << 20

// LocalFiles reports whether the store or the blobs are local files
// (SQLite, a blob directory): see procs.ForFileIO.
func (c Config) LocalFiles() bool {
	postgres := strings.HasPrefix(c.StoreDSN, "postgres://") || strings.HasPrefix(c.StoreDSN, "postgresql://")
	return !postgres || c.BlobBackend != "s3"
}

// LoadConfig reads the configuration and reports every problem at once.
func LoadConfig(getenv func(string) string, clientName string) (Config, error) {
	var errs []error
	dsn, err := secretenv.Value(getenv, "CALIOPEN_STORE_DSN")
	if err != nil {
		errs = append(errs, err)
	}
	c := Config{
		StoreDSN:    strings.TrimSpace(dsn),
		BlobBackend: strings.TrimSpace(getenv("CALIOPEN_BLOB_BACKEND")),
		BlobDir:     strings.TrimSpace(getenv("CALIOPEN_BLOB_DIR")),
	}
	if c.StoreDSN == "" {
		errs = append(errs, errors.New("CALIOPEN_STORE_DSN: required (postgres://... or sqlite:///path)"))
	}
	switch c.BlobBackend {
	case "", "dir":
		c.BlobBackend = "dir"
		if c.BlobDir == "" {
			errs = append(errs, errors.New("CALIOPEN_BLOB_DIR: required with the dir blob backend"))
		}
	case "s3":
		s3, err := s3blob.LoadConfig(getenv)
		if err != nil {
			errs = append(errs, err)
		}
		c.S3 = s3
	default:
		errs = append(errs, fmt.Errorf("CALIOPEN_BLOB_BACKEND: want dir or s3, got %q", c.BlobBackend))
	}
	nc, err := natsconn.LoadConfig(getenv, clientName)
	if err != nil {
		errs = append(errs, err)
	}
	c.NATS = nc
	return c, errors.Join(errs...)
}

// OpenBlobs opens the blob store cfg names (without the local system's
// memory of recent raw messages).
func OpenBlobs(ctx context.Context, cfg Config) (blob.Store, error) {
	if cfg.BlobBackend == "s3" {
		s, err := s3blob.New(cfg.S3)
		if err != nil {
			return nil, err
		}
		if err := s.EnsureBucket(ctx); err != nil {
			return nil, fmt.Errorf("s3 bucket: %w", err)
		}
		return s, nil
	}
	if err := os.MkdirAll(cfg.BlobDir, 0o700); err != nil {
		return nil, fmt.Errorf("blob directory: %w", err)
	}
	return dirblob.New(cfg.BlobDir)
}

// Local returns the configuration of the one-machine system: SQLite and
// blobs under dataDir, NATS at natsURL.
func Local(dataDir, natsURL, clientName string) Config {
	return Config{
		StoreDSN:    "sqlite://" + filepath.Join(dataDir, "caliopen.db"),
		BlobBackend: "dir",
		BlobDir:     filepath.Join(dataDir, "blobs"),
		NATS:        natsconn.Config{URL: natsURL, Name: clientName},
		RecentRaw:   LocalRecentRaw,
	}
}

// Deps are the opened dependencies.
type Deps struct {
	Store   *store.SQL
	Blobs   blob.Store
	NC      *nats.Conn
	Emitter *emit.Emitter
	Keyring *secrets.Keyring
}

// Open opens everything cfg names, with the keyring from keyring. The
// store, the blobs and the NATS connection are opened at once, each on its
// own goroutine: a start waits for the slowest of them, not for their sum
// (a cold start's SQLite schema read, a NATS handshake's round trips). On
// error it closes what it opened.
func Open(ctx context.Context, cfg Config, keyring *secrets.Keyring, logger *slog.Logger) (_ *Deps, err error) {
	d := &Deps{Keyring: keyring}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	var (
		wg                  sync.WaitGroup
		storeErr, blobErr   error
		natsErr, emitterErr error
	)
	wg.Go(func() {
		if d.Store, storeErr = store.Open(ctx, cfg.StoreDSN); storeErr != nil {
			storeErr = fmt.Errorf("open store: %w", storeErr)
		}
	})
	wg.Go(func() { d.Blobs, blobErr = OpenBlobs(ctx, cfg) })
	wg.Go(func() {
		if d.NC, natsErr = cfg.NATS.Connect(logger, nil); natsErr == nil {
			d.Emitter, emitterErr = emit.New(d.NC)
		}
	})
	wg.Wait()
	if err := errors.Join(storeErr, blobErr, natsErr, emitterErr); err != nil {
		return nil, err
	}
	if cfg.RecentRaw > 0 {
		d.Blobs = blob.NewRecent(d.Blobs, store.RawPrefix, cfg.RecentRaw)
	}
	return d, nil
}

// Close closes the connection and the store.
func (d *Deps) Close() error {
	var errs []error
	if d.NC != nil {
		if err := d.NC.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, err)
		}
	}
	if d.Store != nil {
		errs = append(errs, d.Store.Close())
	}
	return errors.Join(errs...)
}

// LocalKeyring loads the keyring kept in dir/secrets.keys (KeyringFile).
func LocalKeyring(dir string) (*secrets.Keyring, error) {
	return KeyringFile(filepath.Join(dir, "secrets.keys"))
}

// KeyringFile loads the keyring kept in the file path, creating it with one
// fresh key on first use. The file is readable by its owner only (mode
// 0600): a looser one is taken down to that mode.
func KeyringFile(path string) (*secrets.Keyring, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		line, err := secrets.NewKeyLine(nil, "local1")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		b = []byte(line)
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("make %s private: %w", path, err)
	}
	return secrets.ParseKeyring(string(b))
}
