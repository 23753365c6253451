package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestStartAfter(t *testing.T) {
	for _, tc := range []struct {
		name        string
		wait        time.Duration // before stop
		wantStarted bool
	}{
		{"stopped before the delay: never started", 0, false},
		{"started after the delay, stopped", 100 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var started, stopped atomic.Bool
			var at time.Time
			begin := time.Now()
			stop := startAfter(t.Context(), 30*time.Millisecond, func(ctx context.Context) func() {
				at = time.Now()
				started.Store(true)
				return func() {
					if ctx.Err() == nil {
						t.Error("stopped with its context still live")
					}
					stopped.Store(true)
				}
			})
			time.Sleep(tc.wait)
			stop()
			if started.Load() != tc.wantStarted || stopped.Load() != tc.wantStarted {
				t.Fatalf("started %v, stopped %v; want both %v", started.Load(), stopped.Load(), tc.wantStarted)
			}
			if tc.wantStarted && at.Sub(begin) < 30*time.Millisecond {
				t.Errorf("started %s after the call, before the delay", at.Sub(begin))
			}
		})
	}
}
