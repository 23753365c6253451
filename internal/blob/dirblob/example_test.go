package dirblob_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/dirblob"
)

// Store a raw message in a directory and read it back; code that takes a
// blob.Store works the same with s3blob.
func Example() {
	dir, _ := os.MkdirTemp("", "caliopen-blobs")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	var s blob.Store
	s, err := dirblob.New(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	raw := "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
	if err := s.Put(ctx, "raw/msg-1.eml", strings.NewReader(raw), int64(len(raw))); err != nil {
		fmt.Println(err)
		return
	}
	info, _ := s.Stat(ctx, "raw/msg-1.eml")
	fmt.Println("size:", info.Size)
	rc, _ := s.Get(ctx, "raw/msg-1.eml")
	b, _ := io.ReadAll(rc)
	rc.Close()
	fmt.Println("same bytes:", string(b) == raw)
	_ = s.Delete(ctx, "raw/msg-1.eml")
	_, err = s.Get(ctx, "raw/msg-1.eml")
	fmt.Println("after delete, not found:", errors.Is(err, blob.ErrNotFound))
	fmt.Println("traversal refused:", errors.Is(s.Put(ctx, "../etc/passwd", strings.NewReader(""), 0), blob.ErrInvalidKey))
	// Output:
	// size: 43
	// same bytes: true
	// after delete, not found: true
	// traversal refused: true
}
