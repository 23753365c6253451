package blob_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/dirblob"
)

func TestValidKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"a", true}, {"raw/2026/msg.eml", true}, {"a.b/c..d", true}, {"é/ü", true},
		{strings.Repeat("k", blob.MaxKeyLen), true},
		{"", false}, {"/a", false}, {"a/", false}, {"a//b", false}, {"..", false}, {"a/../b", false},
		{".a", false}, {"a/.tmp-1", false}, {"a\\b", false}, {"a\tb", false}, {"a\x7fb", false},
		{"\xff", false}, {strings.Repeat("k", blob.MaxKeyLen+1), false},
	} {
		err := blob.ValidKey(tc.key)
		if (err == nil) != tc.want || (err != nil && !errors.Is(err, blob.ErrInvalidKey)) {
			t.Errorf("ValidKey(%q) = %v, want valid=%v", tc.key, err, tc.want)
		}
	}
}

func TestCopyExact(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		data string
		size int64
		want error
	}{
		{"exact", "hello", 5, nil},
		{"unknown", "hello", -1, nil},
		{"empty", "", 0, nil},
		{"short", "hell", 5, blob.ErrSizeMismatch},
		{"long", "hello!", 5, blob.ErrSizeMismatch},
	} {
		var buf bytes.Buffer
		n, err := blob.CopyExact(ctx, &buf, strings.NewReader(tc.data), tc.size)
		if !errors.Is(err, tc.want) || (err == nil && (buf.String() != tc.data || n != int64(len(tc.data)))) {
			t.Errorf("CopyExact(%s) = %d, %v, copied %q; want err %v", tc.name, n, err, buf.String(), tc.want)
		}
	}
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := blob.CopyExact(c, &bytes.Buffer{}, strings.NewReader("x"), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("CopyExact with a canceled context = %v", err)
	}
}

func TestReadLimited(t *testing.T) {
	ctx := context.Background()
	s, err := dirblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k", strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	if b, err := blob.ReadLimited(ctx, s, "k", 5); err != nil || string(b) != "hello" {
		t.Errorf("at the limit: %q %v", b, err)
	}
	if _, err := blob.ReadLimited(ctx, s, "k", 4); !errors.Is(err, blob.ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := blob.ReadLimited(ctx, s, "nope", 4); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
}
