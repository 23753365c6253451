// Package blobtest is the contract suite of package blob: Run checks a
// blob.Store against the behaviour the interface promises. A failure names
// the operation and key; nothing here retries.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/caliopen/functions/internal/blob"
)

// Opener returns an empty store for one test. Stores from different calls
// must not see each other's keys (use a fresh directory or prefix).
type Opener func(t *testing.T) blob.Store

// Run runs the contract suite against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"SizesAndUnknownSize", testSizes},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"SizeMismatch", testSizeMismatch},
		{"FailingReader", testFailingReader},
		{"CanceledContext", testCanceled},
		{"InvalidKeys", testInvalidKeys},
		{"ConcurrentPuts", testConcurrentPuts},
		{"List", testList},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// put stores data under key with its size, failing the test on error.
func put(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(ctx(t), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q, %d bytes) = %v", key, len(data), err)
	}
}

// want checks that key holds exactly data, through Get and Stat.
func want(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	rc, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q) = %v", key, err)
	}
	if n := blob.SizeOf(rc); n != int64(len(data)) {
		t.Errorf("Get(%q) says its size is %d, want %d", key, n, len(data))
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("Get(%q) = %d bytes, want %d bytes of the stored content", key, len(got), len(data))
	}
	info, err := s.Stat(ctx(t), key)
	if err != nil {
		t.Fatalf("Stat(%q) = %v", key, err)
	}
	if info.Size != int64(len(data)) || info.Key != key || info.ModTime.IsZero() {
		t.Fatalf("Stat(%q) = %+v, want size %d", key, info, len(data))
	}
}

// absent checks that key holds nothing.
func absent(t *testing.T, s blob.Store, key string) {
	t.Helper()
	if _, err := s.Get(ctx(t), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get(%q) = %v, want ErrNotFound", key, err)
	}
	if _, err := s.Stat(ctx(t), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat(%q) = %v, want ErrNotFound", key, err)
	}
}

func testRoundTrip(t *testing.T, s blob.Store) {
	data := []byte("From: a@x\r\nSubject: hi\r\n\r\nbody\r\n")
	put(t, s, "raw/2026/03/01/msg-1.eml", data)
	want(t, s, "raw/2026/03/01/msg-1.eml", data)
	absent(t, s, "raw/2026/03/01") // a prefix is not an object
	put(t, s, "sha256-Ab_09 é+=,;@", data)
	want(t, s, "sha256-Ab_09 é+=,;@", data)
}

func testOverwrite(t *testing.T, s blob.Store) {
	put(t, s, "k", random(1000))
	second := random(10)
	put(t, s, "k", second)
	want(t, s, "k", second)
}

func testSizes(t *testing.T, s blob.Store) {
	put(t, s, "empty", nil)
	want(t, s, "empty", nil)
	big := random(9<<20 + 17) // above in-memory buffers
	put(t, s, "big", big)
	want(t, s, "big", big)
	for _, n := range []int{0, 1000, 9<<20 + 3} {
		data := random(n)
		key := fmt.Sprintf("unknown-%d", n)
		// iotest.HalfReader hides any io.Seeker or io.WriterTo.
		if err := s.Put(ctx(t), key, iotest.HalfReader(bytes.NewReader(data)), -1); err != nil {
			t.Fatalf("Put(%q, size -1) = %v", key, err)
		}
		want(t, s, key, data)
	}
}

func testMissing(t *testing.T, s blob.Store) {
	absent(t, s, "never/stored")
	if err := s.Delete(ctx(t), "never/stored"); err != nil {
		t.Errorf("Delete of a missing key = %v, want nil", err)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	put(t, s, "a/b", []byte("x"))
	put(t, s, "a/c", []byte("y"))
	if err := s.Delete(ctx(t), "a/b"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	absent(t, s, "a/b")
	want(t, s, "a/c", []byte("y"))
	if err := s.Delete(ctx(t), "a/b"); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
}

func testSizeMismatch(t *testing.T, s blob.Store) {
	for name, size := range map[string]int64{"short": 10, "long": 3} {
		key := "mismatch-" + name
		err := s.Put(ctx(t), key, bytes.NewReader([]byte("12345")), size)
		if !errors.Is(err, blob.ErrSizeMismatch) {
			t.Errorf("Put of 5 bytes announced as %d = %v, want ErrSizeMismatch", size, err)
		}
		absent(t, s, key)
	}
	put(t, s, "kept", []byte("old"))
	if err := s.Put(ctx(t), "kept", bytes.NewReader([]byte("new content")), 100); err == nil {
		t.Fatal("Put with a wrong size succeeded")
	}
	want(t, s, "kept", []byte("old"))
}

func testFailingReader(t *testing.T, s blob.Store) {
	put(t, s, "f", []byte("old"))
	boom := errors.New("disk on fire")
	r := io.MultiReader(bytes.NewReader(random(5000)), iotest.ErrReader(boom))
	if err := s.Put(ctx(t), "f", r, 10000); !errors.Is(err, boom) {
		t.Fatalf("Put from a failing reader = %v, want %v", err, boom)
	}
	want(t, s, "f", []byte("old"))
	if err := s.Put(ctx(t), "g", iotest.ErrReader(boom), -1); err == nil {
		t.Fatal("Put of unknown size from a failing reader succeeded")
	}
	absent(t, s, "g")
}

func testCanceled(t *testing.T, s blob.Store) {
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	if err := s.Put(c, "canceled", bytes.NewReader([]byte("x")), 1); err == nil {
		t.Fatal("Put with a canceled context succeeded")
	}
	absent(t, s, "canceled")
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	c := ctx(t)
	for _, key := range []string{"", "/abs", "../escape", "a/../../escape", "a//b", "a/./b", "a/", ".hidden",
		"a/.tmp-x", "a\\b", "nul\x00byte", "line\nbreak", string([]byte{0xff}), string(make([]byte, 1025))} {
		if err := s.Put(c, key, bytes.NewReader([]byte("x")), 1); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(c, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(c, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(c, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	const writers = 6
	contents := make([][]byte, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		contents[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Put(ctx(t), "contended", bytes.NewReader(contents[i]), int64(len(contents[i])))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Put = %v", err)
		}
	}
	rc, err := s.Get(ctx(t), "contended")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	for _, c := range contents {
		if bytes.Equal(got, c) {
			return
		}
	}
	t.Fatalf("after concurrent Puts the object (%d bytes) is none of the written contents: torn write", len(got))
}

func testList(t *testing.T, s blob.Store) {
	l, ok := s.(blob.Lister)
	if !ok {
		t.Fatalf("%T cannot list its objects", s)
	}
	for key, n := range map[string]int{"list/a/1": 3, "list/a/2": 5, "list/ab": 7, "list/b/3": 1, "other": 2} {
		put(t, s, key, random(n))
	}
	listed := func(prefix string) map[string]int64 {
		got := map[string]int64{}
		err := l.List(ctx(t), prefix, func(i blob.Info) error {
			if i.ModTime.IsZero() || time.Since(i.ModTime) > time.Hour {
				t.Errorf("%s: modification time %v", i.Key, i.ModTime)
			}
			got[i.Key] = i.Size
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := listed("list/a/"); len(got) != 2 || got["list/a/1"] != 3 || got["list/a/2"] != 5 {
		t.Errorf("List(list/a/) = %v", got)
	}
	if got := listed("list/a"); len(got) != 3 || got["list/ab"] != 7 {
		t.Errorf("List(list/a) = %v", got)
	}
	if got := listed("none/"); len(got) != 0 {
		t.Errorf("List(none/) = %v", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := l.List(ctx(t), "list/", func(blob.Info) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("List stopped by its callback: %v after %d objects", err, n)
	}
}
