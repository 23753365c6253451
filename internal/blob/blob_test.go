package blob_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/blob"
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
