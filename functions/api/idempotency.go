package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/caliopen/functions/internal/store"
)

// HeaderIdempotencyKey names the key of a request that creates an object
// (draft-ietf-httpapi-idempotency-key-header): the first request with a
// key runs; a request repeating it (same user, key, route and body) gets
// the first answer again; the same key with another request gets 422; a
// repeat while the first still runs gets 409.
const HeaderIdempotencyKey = "Idempotency-Key"

const (
	// idempotencyTTL is how long an answer is kept for its key.
	idempotencyTTL = 24 * time.Hour
	// idempotencyLock is how long a running request holds its key: after
	// it, the request is taken to have died and a repeat runs again
	// (creating the same object: see call.newID).
	idempotencyLock = 2 * time.Minute
	// maxIdempotencyKey bounds a key's length.
	maxIdempotencyKey = 255
	// maxKeptAnswer bounds the answer kept for a key; a larger one is not
	// kept and the key is released.
	maxKeptAnswer = 64 << 10
)

// keptHeaders are the answer's headers replayed with it.
var keptHeaders = []string{"Content-Type", "Location", "Retry-After"}

// newID returns the id of the object the call creates: the one reserved
// under the request's idempotency key, so that a request run again creates
// the same object (the store's creates are repeatable by id), or a fresh
// one.
func (c *call) newID() string {
	if c.resourceID != "" {
		return c.resourceID
	}
	return uuid.NewString()
}

// idempotent serves h with the Idempotency-Key semantics, keyed per user,
// when the request carries the header; without it h runs as is.
func (s *server) idempotent(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, c *call) error {
		values, present := c.r.Header[http.CanonicalHeaderKey(HeaderIdempotencyKey)]
		if !present {
			return h(w, c)
		}
		key, err := parseIdempotencyKey(values)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, c.r.Body, s.cfg.MaxBodyBytes))
		if err != nil {
			return s.decodeError(err)
		}
		c.r.Body = io.NopCloser(bytes.NewReader(body))
		fp := fingerprint(c.r.Method, c.r.URL.Path, body)
		now := time.Now()
		rec, claimed, err := s.st.ClaimIdempotencyKey(c.ctx, store.IdempotencyKey{UserID: c.user.ID, Key: key,
			Fingerprint: fp, LockedUntil: now.Add(idempotencyLock), ExpiresAt: now.Add(idempotencyTTL)})
		if err != nil {
			return storeError("idempotency key", err)
		}
		switch {
		case claimed:
		case rec.Fingerprint != fp:
			return &apiError{status: http.StatusUnprocessableEntity, code: "idempotency_key_reused",
				msg: "this Idempotency-Key was used for another request; use a new key for a new request"}
		case rec.Status == 0:
			return &apiError{status: http.StatusConflict, code: "request_in_progress",
				msg: "a request with this Idempotency-Key is still being served; try again later"}
		default:
			c.rec.outcome = "replayed"
			for k, v := range rec.Header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(rec.Status)
			_, _ = w.Write(rec.Body)
			return nil
		}
		c.resourceID = rec.ResourceID
		kw := &keepWriter{ResponseWriter: w}
		if err := h(kw, c); err != nil {
			s.fail(kw, c.rec, err)
		}
		s.keep(c, rec, kw)
		return nil
	}
}

// keep stores the answer of the request that claimed rec, or releases the
// key when the answer is one the client should retry (a server error, 408,
// 429) or too large to keep.
func (s *server) keep(c *call, rec store.IdempotencyKey, kw *keepWriter) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), s.cfg.PublishTimeout)
	defer cancel()
	status := kw.status
	if status == 0 {
		status = http.StatusOK
	}
	var err error
	if status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || kw.overflow {
		err = s.st.ReleaseIdempotencyKey(ctx, rec.UserID, rec.Key)
	} else {
		rec.Status, rec.Body, rec.Header = status, kw.body.Bytes(), map[string]string{}
		for _, h := range keptHeaders {
			if v := kw.Header().Get(h); v != "" {
				rec.Header[h] = v
			}
		}
		err = s.st.CompleteIdempotencyKey(ctx, rec)
	}
	if err != nil {
		// The answer went out; a repeat gets 409 until the lock ends,
		// then runs again on the same object id.
		c.rec.err = errors.Join(c.rec.err, err)
	}
}

// parseIdempotencyKey reads the header's one value: a structured-field
// string ("..."), or, leniently, the bare key; 1 to 255 printable ASCII
// characters.
func parseIdempotencyKey(values []string) (string, error) {
	bad := &apiError{status: http.StatusBadRequest, code: "invalid_idempotency_key",
		msg: "Idempotency-Key must be one quoted string of 1 to " + strconv.Itoa(maxIdempotencyKey) + " printable ASCII characters"}
	if len(values) != 1 {
		return "", bad
	}
	v := strings.TrimSpace(values[0])
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		if strings.ContainsAny(v, `"\`) {
			return "", bad
		}
	}
	if v == "" || len(v) > maxIdempotencyKey || !printableWithSpaces(v) {
		return "", bad
	}
	return v, nil
}

// printableWithSpaces reports whether s is printable ASCII, spaces allowed
// (a structured-field string may hold them).
func printableWithSpaces(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// fingerprint identifies a request: method, path and body.
func fingerprint(method, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method + " " + path + "\n"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// keepWriter copies the answer it writes, up to maxKeptAnswer bytes.
type keepWriter struct {
	http.ResponseWriter
	status   int
	body     bytes.Buffer
	overflow bool
}

func (w *keepWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *keepWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.body.Len()+len(b) > maxKeptAnswer {
		w.overflow = true
	} else {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *keepWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
