package imapfetch

import (
	"context"
	"fmt"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

// maxErrorText bounds the failure text stored on the identity.
const maxErrorText = 500

// publishTimeout bounds the update_interval publish.
const publishTimeout = 5 * time.Second

// failed records shown, what the user sees of cause (classified: never
// the remote server's words), on the identity, logs cause, and applies the
// slow-down and disabling policy (see the package doc). Only a store
// failure is returned, as a temporary error.
func (r *syncRun) failed(ctx context.Context, out outcome, cause error, shown string) (outcome, error) {
	msg := shown
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText]
	}
	st, err := r.f.deps.Store.RecordSyncError(ctx, r.ident.UserID, r.ident.ID, msg, r.f.deps.Now())
	if err != nil {
		return out, fnhttp.WithCode(faults.Temp(fmt.Errorf("record sync error (%s): %w", msg, err)), "store_unavailable")
	}
	out.failure = msg
	r.log.Warn("sync failed", "outcome", faults.ClassOf(cause).String(), "errors", st.ErrorCount, "shown", msg,
		"err", cause.Error())
	if span := st.LastErrorAt.Sub(st.FirstErrorAt); span > r.f.cfg.DisableAfter {
		if err := r.f.deps.Store.SetIdentityStatus(ctx, r.ident.UserID, r.ident.ID, store.Inactive); err != nil {
			return out, fnhttp.WithCode(faults.Temp(fmt.Errorf("disable identity: %w", err)), "store_unavailable")
		}
		r.log.Warn("identity disabled after failing too long", "outcome", "disabled", "failing_for", span.String())
		out.failure += "; identity disabled"
		return out, nil
	}
	if st.ErrorCount >= r.f.cfg.SlowAfter {
		r.setInterval(ctx, slowed(r.f.cfg, st.ErrorCount))
	}
	return out, nil
}

// slowed is the poll interval after n failures in a row:
// BaseInterval·2^(n-SlowAfter+1), capped at MaxInterval.
func slowed(cfg Config, n int) time.Duration {
	d := cfg.BaseInterval
	for i := cfg.SlowAfter; i <= n && d < cfg.MaxInterval; i++ {
		d *= 2
	}
	return min(d, cfg.MaxInterval)
}

// recovered restores the base poll interval after a slowed period.
func (r *syncRun) recovered(ctx context.Context) {
	if r.ident.Sync.ErrorCount >= r.f.cfg.SlowAfter {
		r.setInterval(ctx, r.f.cfg.BaseInterval)
	}
}

// setInterval publishes update_interval on identitiesWorker, as the
// original's emitter does. A failed publish is logged: the next sync
// tries again.
func (r *syncRun) setInterval(ctx context.Context, d time.Duration) {
	order := contract.IdentityOrder{IdentityID: r.ident.ID, Order: contract.OrderUpdateInterval,
		PollIntervall: contract.Minutes(d / time.Minute), Protocol: "imap", UserID: r.ident.UserID}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := r.f.deps.Emitter.Publish(ctx, contract.SubjectIdentitiesWorker, order); err != nil {
		r.log.Warn("poll interval not updated", "poll_minutes", int(d/time.Minute), "err", err.Error())
		return
	}
	r.log.Info("poll interval updated", "poll_minutes", int(d/time.Minute))
}
