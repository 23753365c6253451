package dirblob

import (
	"bytes"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/blob"
)

// The raw messages of an import, 4 KB each: one Put each, 32 at once (as
// imap-fetch stored them), against batches of 16 (package rawimport's
// chunks for 32 in flight). Run with -benchmem, or under callgrind for
// instruction counts (the fsyncs' kernel time is not in those).
func BenchmarkRawWrites(b *testing.B) {
	data := bytes.Repeat([]byte("x"), 4096)
	b.Run("put-each-32-at-once", func(b *testing.B) {
		defer cpuPerOp(b)()
		s, err := New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		sem := make(chan struct{}, 32)
		var wg sync.WaitGroup
		i := 0
		for b.Loop() {
			key := fmt.Sprint("raw/", i)
			i++
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := s.Put(b.Context(), key, bytes.NewReader(data), int64(len(data))); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	})
	b.Run("batches-of-16", func(b *testing.B) {
		defer cpuPerOp(b)()
		s, err := New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		var objs []blob.Object
		i := 0
		for b.Loop() {
			objs = append(objs, blob.Object{Key: fmt.Sprint("raw/", i), Data: data})
			i++
			if len(objs) == 16 {
				if err := s.PutBatch(b.Context(), objs); err != nil {
					b.Error(err)
				}
				objs = objs[:0]
			}
		}
		if err := s.PutBatch(b.Context(), objs); len(objs) > 0 && err != nil {
			b.Error(err)
		}
	})
}

// cpuPerOp reports the process's CPU time (user and system) per op, from
// the call to the call of the function it returns.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N)/1e3, "cpu-µs/op") }
}
