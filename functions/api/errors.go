package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/store"
)

// apiError is an answer other than success: a status, a stable code, a
// message for the client and, for the log only, the cause.
type apiError struct {
	status int
	code   string
	msg    string
	err    error          // the cause, logged, never sent
	extra  map[string]any // more fields of the JSON body
}

func (e *apiError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: %s: %v", e.code, e.msg, e.err)
	}
	return e.code + ": " + e.msg
}

func (e *apiError) Unwrap() error { return e.err }

// errorBody encodes {"error":code,"message":msg} plus extra fields.
func errorBody(code, msg string, extra map[string]any) []byte {
	body := map[string]any{"error": code, "message": msg}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body) // strings and this package's views cannot fail
	return append(b, '\n')
}

// fail answers err as a JSON error: an *apiError as it says, anything else
// as 503 (the store or the network failed; worth retrying) with a generic
// message. The cause goes to the log only.
func (s *server) fail(w http.ResponseWriter, rec *record, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusServiceUnavailable, code: "unavailable",
			msg: "the service could not complete the request; try again", err: err}
	}
	rec.err = ae
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="caliopen"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.status)
	_, _ = w.Write(errorBody(ae.code, ae.msg, ae.extra))
}

// notFound is the answer for an object that does not exist or is another
// user's: the two are indistinguishable.
func notFound(what string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "not_found", msg: what + " not found"}
}

// storeError maps a store error about what onto an answer: not found (or
// another user's) 404, conflict 409, invalid input 400; anything else is
// returned for fail to answer 503.
func storeError(what string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: what + " not found", err: err}
	case errors.Is(err, store.ErrConflict):
		return &apiError{status: http.StatusConflict, code: "conflict",
			msg: what + " conflicts with an existing one, or is in a state that forbids the change", err: err}
	case errors.Is(err, store.ErrInvalid):
		return &apiError{status: http.StatusBadRequest, code: "invalid_field", msg: invalidText(err), err: err}
	}
	return err
}

// invalidText keeps the store's own explanation of invalid input.
func invalidText(err error) string {
	if _, detail, ok := strings.Cut(err.Error(), store.ErrInvalid.Error()+": "); ok {
		return detail
	}
	return "invalid input"
}

// authError maps a failed token check onto 401; a store failure stays 503.
func authError(err error) error {
	if errors.Is(err, accounts.ErrBadToken) {
		return &apiError{status: http.StatusUnauthorized, code: "unauthorized", msg: "invalid or expired token", err: err}
	}
	return fmt.Errorf("verify token: %w", err)
}

// badRequest is a 400 answer.
func badRequest(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}
