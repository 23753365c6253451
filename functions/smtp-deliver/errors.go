package smtpdeliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/store"
)

// storeErr classifies a store error of op: a missing record is permanent
// with notFound's code (when given), the rest temporary.
func storeErr(op string, err error, notFound string) error {
	err = fmt.Errorf("%s: %w", op, err)
	if notFound != "" && errors.Is(err, store.ErrNotFound) {
		return fnhttp.WithCode(faults.Perm(err), notFound)
	}
	return fnhttp.WithCode(faults.Temp(err), "store_unavailable")
}

// blobErr classifies a blob store error of op: temporary.
func blobErr(op string, err error) error {
	return fnhttp.WithCode(faults.Temp(fmt.Errorf("%s: %w", op, err)), "blob_unavailable")
}

// buildErr classifies an error of outbound.Build.
func buildErr(err error) error {
	err = fmt.Errorf("build message: %w", err)
	switch {
	case errors.Is(err, outbound.ErrInvalid):
		return fnhttp.WithCode(faults.Perm(err), "invalid_draft")
	case errors.Is(err, blob.ErrNotFound):
		return fnhttp.WithCode(faults.Perm(err), "attachment_missing")
	}
	return blobErr("read attachments", err)
}

// release gives draft m back after a failed attempt (state failed, with
// the reason) and returns err.
func (d *deliverer) release(ctx context.Context, m store.Message, err error, log *slog.Logger) error {
	return d.releaseShown(ctx, m, err, err.Error(), log)
}

// releaseShown is release with the reason's text given: shown, not err's.
func (d *deliverer) releaseShown(ctx context.Context, m store.Message, err error, shown string, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	reason := faults.ClassOf(err).String() + ": " + shown
	if ferr := d.deps.Store.MarkSendFailed(ctx, m.UserID, m.ID, reason); ferr != nil {
		log.Error("draft not marked failed; it is free again when its lease ends", "err", ferr.Error())
	}
	return err
}

// sendFailed classifies a failed hand-off of m and releases the draft,
// unless the server may have taken the message. A released draft's copy,
// mark's, is removed: nothing went out.
func (d *deliverer) sendFailed(ctx context.Context, m store.Message, rt route, mark marker, err error, log *slog.Logger) error {
	var se *outbound.SendError
	if !errors.As(err, &se) {
		se = &outbound.SendError{Stage: "send", Err: err} // temporary
	}
	if se.Unconfirmed {
		log.Warn("hand-off unconfirmed; a retry after the lease finishes it without sending",
			"server", rt.server.String(), "err", se.Error())
		return fnhttp.WithCode(faults.Temp(fmt.Errorf("send message %s via %s: %w", m.ID, rt.server, se)),
			"send_unconfirmed")
	}
	wrapped := fmt.Errorf("failed to send message %s via %s: %w", m.ID, rt.server, se)
	defer d.dropCopy(ctx, mark, log)
	if !rt.local {
		// A server the user chose: the user is told the failure's class,
		// never the server's words (they would tell what listens at an
		// address); the log keeps them.
		shown := mailconn.UserError(se)
		log.Warn("send through the identity's server failed", "server", rt.server.String(), "shown", shown, "err", se.Error())
		code := "relay_unavailable"
		class := faults.Temp(wrapped)
		if se.Permanent() {
			code, class = "relay_rejected", faults.Perm(wrapped)
		}
		return d.releaseShown(ctx, m, fnhttp.WithMessage(fnhttp.WithCode(class, code),
			fmt.Sprintf("failed to send message %s: %s", m.ID, shown)), shown, log)
	}
	if !se.Permanent() {
		return d.release(ctx, m, fnhttp.WithCode(faults.Temp(wrapped), "relay_unavailable"), log)
	}
	// The relay's refusal is the sender's business: the reply keeps it.
	return d.release(ctx, m, fnhttp.WithMessage(fnhttp.WithCode(faults.Perm(wrapped), "relay_rejected"), wrapped.Error()), log)
}

// dropCopy removes the sent copy mark names, once its draft was released:
// the attempt is forgotten, so nothing refers to the copy. A failure only
// leaves the file behind.
func (d *deliverer) dropCopy(ctx context.Context, mark marker, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := d.deps.Blobs.Delete(ctx, copyKey(mark.RawMsgID)); err != nil {
		log.Warn("unsent copy not removed", "raw_id", mark.RawMsgID, "err", err.Error())
	}
}
