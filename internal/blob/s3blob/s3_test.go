package s3blob_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/blobtest"
	"github.com/caliopen/functions/internal/blob/s3blob"
	"github.com/caliopen/functions/internal/peertest"
)

// Variables naming the S3 server of the tests (scripts/test-peers/versitygw.sh
// prints them).
const (
	envEndpoint  = "CALIOPEN_TEST_S3_ENDPOINT"
	envAccessKey = "CALIOPEN_TEST_S3_ACCESS_KEY"
	envSecretKey = "CALIOPEN_TEST_S3_SECRET_KEY"
	envBucket    = "CALIOPEN_TEST_S3_BUCKET"
)

// testConfig reads the test server's configuration; it skips the test when
// the endpoint is unset, except under CI=true, where it fails.
func testConfig(t *testing.T) s3blob.Config {
	t.Helper()
	endpoint := peertest.Env(t, envEndpoint, "start one with scripts/test-peers/versitygw.sh")
	bucket := os.Getenv(envBucket)
	if bucket == "" {
		bucket = "caliopen-test"
	}
	return s3blob.Config{Endpoint: endpoint, Bucket: bucket, PathStyle: true,
		AccessKey: os.Getenv(envAccessKey), SecretKey: os.Getenv(envSecretKey)}
}

func TestContract(t *testing.T) {
	cfg := testConfig(t)
	base, err := s3blob.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := base.EnsureBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := base.EnsureBucket(t.Context()); err != nil {
		t.Fatalf("EnsureBucket twice = %v", err)
	}
	blobtest.Run(t, func(t *testing.T) blob.Store {
		var b [6]byte
		rand.Read(b[:])
		c := cfg
		c.Prefix = "test-" + hex.EncodeToString(b[:]) + "/" // isolates parallel tests
		s, err := s3blob.New(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestWrongSecretIsRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.SecretKey += "-wrong"
	s, err := s3blob.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Put(t.Context(), "x", strings.NewReader("x"), 1)
	if err == nil || strings.Contains(err.Error(), blob.ErrNotFound.Error()) {
		t.Fatalf("Put with a wrong secret = %v, want an authentication error", err)
	}
}

func TestLoadConfig(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("from-file\n"), 0o600)
	env := map[string]string{
		s3blob.EnvEndpoint: "http://127.0.0.1:7070", s3blob.EnvBucket: "raw", s3blob.EnvPathStyle: "true",
		s3blob.EnvAccessKey: "ak", s3blob.EnvSecretKey: "ignored", s3blob.EnvSecretKeyFile: secret,
	}
	cfg, err := s3blob.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := s3blob.Config{Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", Bucket: "raw", PathStyle: true,
		AccessKey: "ak", SecretKey: "from-file"}
	if cfg != want {
		t.Errorf("LoadConfig = %+v, want %+v", cfg, want)
	}
	bad := map[string]string{s3blob.EnvEndpoint: "127.0.0.1:7070", s3blob.EnvPathStyle: "maybe", s3blob.EnvPrefix: "/p"}
	_, err = s3blob.LoadConfig(func(k string) string { return bad[k] })
	for _, part := range []string{"bucket is required", "endpoint", "want true or false", "secret key are required", "prefix"} {
		if err == nil || !strings.Contains(err.Error(), part) {
			t.Errorf("LoadConfig(bad) = %v, want it to mention %q", err, part)
		}
	}
}
