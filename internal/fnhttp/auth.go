package fnhttp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caliopen/functions/internal/invokeauth"
)

// CodeUnauthorized is the error code of an invocation refused for want of a
// valid signature.
const CodeUnauthorized = "unauthorized"

// authenticate checks the invocation's signature: its time first, from the
// header alone, then the body (read up to the limit) against the keys. On
// success r.Body is the body read, for readInbound.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) error {
	sig := r.Header.Get(invokeauth.Header)
	if err := invokeauth.CheckTime(time.Now(), sig); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		return fmt.Errorf("%w: read body: %w", invokeauth.ErrUnauthenticated, err)
	}
	call := invokeauth.Call{Method: r.Method, Function: h.cfg.Function, Subject: r.Header.Get(HeaderSubject),
		CorrelationID: r.Header.Get(HeaderCorrelationID), Body: body}
	if err := h.cfg.Keys.Verify(time.Now(), sig, call); err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}

// unauthenticated answers a refused invocation: 401, or 413 when the body
// was too large to check.
func (h *handler) unauthenticated(err error, rec *record) answer {
	sh := h.shapeFor(h.subject(rec.subject))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return h.unreadable(sh, tooLarge, rec)
	}
	rec.fail(outcomeUnauthenticated, err)
	return sh.fail(http.StatusUnauthorized, CodeUnauthorized, err.Error())
}
