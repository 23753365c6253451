package rawsweep_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/blob/s3blob"
	"github.com/caliopen/functions/internal/peertest"
	"github.com/caliopen/functions/internal/rawsweep"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/store/storetest"
)

func TestSweepDirectory(t *testing.T) {
	b, err := dirblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	testSweep(t, b)
}

// TestSweepS3 runs against versitygw (scripts/test-peers/versitygw.sh).
func TestSweepS3(t *testing.T) {
	endpoint := peertest.Env(t, "CALIOPEN_TEST_S3_ENDPOINT", "start one with scripts/test-peers/versitygw.sh")
	bucket := os.Getenv("CALIOPEN_TEST_S3_BUCKET")
	if bucket == "" {
		bucket = "caliopen-test"
	}
	var p [6]byte
	rand.Read(p[:])
	b, err := s3blob.New(s3blob.Config{Endpoint: endpoint, Bucket: bucket, PathStyle: true,
		AccessKey: os.Getenv("CALIOPEN_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("CALIOPEN_TEST_S3_SECRET_KEY"),
		Prefix: "sweep-" + hex.EncodeToString(p[:]) + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	testSweep(t, b)
}

// testSweep: of four raw messages, the one a message refers to stays, the
// refused one (recorded) and the interrupted one (bytes only) go, and an
// unreferenced one newer than the cutoff stays.
func testSweep(t *testing.T, b rawsweep.Blobs) {
	ctx := t.Context()
	st := storetest.SQLite(t)
	u, err := st.CreateUser(ctx, store.User{Name: "sweep", PasswordHash: "$argon2id$x"})
	if err != nil {
		t.Fatal(err)
	}
	putRaw := func(body string) string {
		raw := []byte("Subject: " + body + "\r\n\r\n" + body + "\r\n")
		id := store.RawID(raw)
		if err := b.Put(ctx, store.RawKey(id), bytes.NewReader(raw), int64(len(raw))); err != nil {
			t.Fatal(err)
		}
		return id
	}
	kept, refused, interrupted := putRaw("kept"), putRaw("refused"), putRaw("interrupted")
	for _, id := range []string{kept, refused} {
		if _, err := st.PutRaw(ctx, store.RawMessage{ID: id, BlobKey: store.RawKey(id), Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := st.PutInbound(ctx, store.Message{UserID: u.ID, RawMsgID: kept, IsReceived: true}); err != nil {
		t.Fatal(err)
	}
	// S3 dates objects to the second.
	time.Sleep(1100 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(1100 * time.Millisecond)
	fresh := putRaw("fresh")

	res, err := rawsweep.Sweep(ctx, st, b, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if res.Old != 3 || res.Deleted != 2 {
		t.Errorf("sweep %+v, want 3 old, 2 deleted", res)
	}
	for id, want := range map[string]bool{kept: true, refused: false, interrupted: false, fresh: true} {
		_, err := b.Stat(ctx, store.RawKey(id))
		if got := err == nil; got != want || (err != nil && !errors.Is(err, blob.ErrNotFound)) {
			t.Errorf("raw %s: present %v (%v), want %v", id[:8], got, err, want)
		}
	}
	if _, err := st.GetRaw(ctx, refused); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused raw message's record: %v, want it deleted", err)
	}
	if _, err := st.GetRaw(ctx, kept); err != nil {
		t.Errorf("referenced raw message's record: %v", err)
	}
	if again, err := rawsweep.Sweep(ctx, st, b, cutoff); err != nil || again.Deleted != 0 {
		t.Errorf("second sweep %+v, %v: want nothing more deleted", again, err)
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := rawsweep.LoadConfig(func(string) string { return "" })
	if err != nil || cfg.Interval != time.Hour || cfg.MinAge != 72*time.Hour {
		t.Errorf("defaults %+v, %v", cfg, err)
	}
	env := map[string]string{rawsweep.EnvInterval: "soon", rawsweep.EnvMinAge: "10m"}
	_, err = rawsweep.LoadConfig(func(k string) string { return env[k] })
	for _, name := range []string{rawsweep.EnvInterval, rawsweep.EnvMinAge} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}
