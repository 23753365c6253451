// Package rawsweep collects raw messages nothing refers to: mail refused
// (a nesting bomb, an unknown identity), a delivery interrupted between
// storing the bytes and storing the message, a send attempt abandoned.
// Their bytes stay in the blob store under "raw/" and, for some, a record
// stays in the store; Sweep deletes both once the bytes are older than a
// grace period, which leaves alone what is still being delivered.
//
// Failure semantics: Sweep stops at the first store or blob store error
// and returns it with what it did until then; a later sweep goes on, since
// every step can be repeated. An object put again during the sweep (the
// same mail arriving anew: raw ids are content hashes) is checked again
// just before it is deleted and kept when it is no longer old.
package rawsweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/store"
)

// Store is what the sweep needs of the record store (*store.SQL).
type Store interface {
	ForgetRaw(ctx context.Context, id string) (bool, error)
}

// Blobs is a blob store that can list its objects.
type Blobs interface {
	blob.Store
	blob.Lister
}

// Result counts what one sweep saw and did.
type Result struct {
	Old     int // raw messages older than the grace period
	Deleted int // of those, deleted: nothing referred to them
}

// Sweep deletes the raw messages under store.RawPrefix last written
// before cutoff that no message refers to: the record first, then the
// bytes.
func Sweep(ctx context.Context, st Store, blobs Blobs, cutoff time.Time) (Result, error) {
	var res Result
	err := blobs.List(ctx, store.RawPrefix, func(i blob.Info) error {
		if !i.ModTime.Before(cutoff) {
			return nil
		}
		res.Old++
		gone, err := st.ForgetRaw(ctx, path.Base(i.Key))
		if err != nil || !gone {
			return err
		}
		now, err := blobs.Stat(ctx, i.Key)
		if errors.Is(err, blob.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !now.ModTime.Before(cutoff) {
			return nil // put again meanwhile
		}
		if err := blobs.Delete(ctx, i.Key); err != nil {
			return err
		}
		res.Deleted++
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("sweep raw messages: %w", err)
	}
	return res, nil
}

// Config says how often to sweep and how old an unreferenced raw message
// must be to go.
type Config struct {
	Interval time.Duration // 0: no sweeping
	MinAge   time.Duration
}

// Environment variables of LoadConfig.
const (
	EnvInterval = "RAW_SWEEP_INTERVAL" // default 1h; "0" turns the sweep off
	EnvMinAge   = "RAW_SWEEP_MIN_AGE"  // default 72h
)

// LoadConfig reads Config from the environment and reports every problem
// at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{Interval: time.Hour, MinAge: 72 * time.Hour}
	var errs []error
	errs = append(errs, envconf.Durations(getenv, map[string]*time.Duration{EnvInterval: &cfg.Interval, EnvMinAge: &cfg.MinAge}))
	for name, d := range map[string]time.Duration{EnvInterval: cfg.Interval, EnvMinAge: cfg.MinAge} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s: negative", name, d))
		}
	}
	if cfg.Interval > 0 && cfg.MinAge < time.Hour {
		errs = append(errs, fmt.Errorf("%s %s: under an hour, mail being delivered could go", EnvMinAge, cfg.MinAge))
	}
	return cfg, errors.Join(errs...)
}

// Run sweeps cfg.Interval after the end of each sweep until ctx ends,
// logging each sweep that found old raw messages and each failure.
func Run(ctx context.Context, cfg Config, st Store, blobs Blobs, log *slog.Logger) {
	if cfg.Interval <= 0 {
		return
	}
	next := time.NewTimer(cfg.Interval)
	defer next.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-next.C:
			logSweep(ctx, st, blobs, time.Now().Add(-cfg.MinAge), log)
			next.Reset(cfg.Interval)
		}
	}
}

// logSweep sweeps once and logs what it did.
func logSweep(ctx context.Context, st Store, blobs Blobs, cutoff time.Time, log *slog.Logger) {
	res, err := Sweep(ctx, st, blobs, cutoff)
	switch {
	case err != nil && ctx.Err() == nil:
		log.Warn("raw message sweep failed", "old", res.Old, "deleted", res.Deleted, "err", err)
	case res.Old > 0:
		log.Info("raw messages swept", "old", res.Old, "deleted", res.Deleted)
	}
}
