package dirblob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentPutsShareDirectoryFsyncs(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var fsyncs atomic.Int64
	s.dirs.fsync = func(dir string) error {
		fsyncs.Add(1)
		time.Sleep(2 * time.Millisecond) // a disk's fsync, long enough for Puts to pile up
		return syncDir(dir)
	}
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprint("object ", i)
			if err := s.Put(t.Context(), fmt.Sprint("d/", i), bytes.NewReader([]byte(body)), int64(len(body))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		rc, err := s.Get(t.Context(), fmt.Sprint("d/", i))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != fmt.Sprint("object ", i) {
			t.Errorf("object %d reads %q", i, b)
		}
	}
	// n Puts, plus the new directory's parent: far fewer fsyncs than Puts.
	if got := fsyncs.Load(); got < 1 || got > n/4 {
		t.Errorf("%d directory fsyncs for %d concurrent Puts, want between 1 and %d", got, n, n/4)
	}
}

// A sync may not be answered by an fsync that was already running when it
// was asked for: that fsync may have missed the caller's rename.
func TestDirSyncWaitsForAnFsyncStartedAfterIt(t *testing.T) {
	d := newDirs()
	started := make(chan int, 4)
	release := make(chan struct{})
	var calls atomic.Int64
	d.fsync = func(string) error {
		n := int(calls.Add(1))
		started <- n
		if n == 1 {
			<-release
			return errors.New("first fsync failed")
		}
		return nil
	}
	first := make(chan error, 1)
	go func() { first <- d.sync("dir") }()
	<-started // fsync 1 is running
	second := make(chan error, 1)
	go func() { second <- d.sync("dir") }()
	time.Sleep(20 * time.Millisecond) // the second caller waits behind fsync 1
	close(release)
	if err := <-first; err == nil {
		t.Error("the first caller did not get its fsync's error")
	}
	if err := <-second; err != nil {
		t.Errorf("the second caller got %v, want the result of its own fsync", err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("%d fsyncs, want 2", got)
	}
}

func TestPutRemakesARemovedDirectory(t *testing.T) {
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string) error {
		return s.Put(context.Background(), key, bytes.NewReader([]byte("x")), 1)
	}
	if err := put("a/b/one"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	if err := put("a/b/two"); err != nil {
		t.Fatalf("Put after its directory was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "a", "b", "two")); err != nil {
		t.Fatal(err)
	}
}
