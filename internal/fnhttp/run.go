package fnhttp

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/caliopen/functions/internal/gopool"
)

// replyMargin is how long before the caller's deadline the core's context
// ends, at most, so that the adapter's own timeout answer arrives before the
// watchdog or the connector give up.
const replyMargin = 250 * time.Millisecond

// coreDeadline is the core's context deadline for a caller deadline: a tenth
// of the remaining time earlier, at most replyMargin earlier.
func coreDeadline(now, deadline time.Time) time.Time {
	margin := deadline.Sub(now) / 10
	if margin > replyMargin {
		margin = replyMargin
	}
	if margin < 0 {
		margin = 0
	}
	return deadline.Add(-margin)
}

// ran is the outcome of one run of a core.
type ran struct {
	res      Result
	err      error
	panicked bool
	panicVal any
	stack    []byte
}

// runCore runs core in a goroutine of pool and waits for it or for ctx, so that
// a core that ignores its context still gets an answer at the deadline. A
// panic is recovered with its stack. Exactly one side claims the outcome: the
// adapter, or, when the adapter stopped waiting first, late (which logs a
// late panic).
func runCore(ctx context.Context, pool *gopool.Pool, core Core, call *Call, late func(ran)) ran {
	done := make(chan ran, 1)
	var claimed atomic.Bool
	pool.Go(func() {
		var out ran
		defer func() {
			if p := recover(); p != nil {
				out = ran{panicked: true, panicVal: p, stack: debug.Stack()}
			}
			if claimed.CompareAndSwap(false, true) {
				done <- out
				return
			}
			late(out)
		}()
		out.res, out.err = core(ctx, call)
	})
	select {
	case out := <-done:
		return out
	case <-ctx.Done():
		if !claimed.CompareAndSwap(false, true) {
			// The core finished at the same moment and is sending its outcome.
			return <-done
		}
		return ran{err: fmt.Errorf("core did not return: %w", context.Cause(ctx))}
	}
}
