// Package faults classifies errors once, where they arise, as temporary
// (worth retrying: the sending side should come back later) or permanent
// (retrying the same input cannot succeed). An error nobody classified is
// treated as temporary; the number of attempts bounds the cost of that choice.
//
// Classification survives wrapping with fmt.Errorf("...: %w", err).
package faults

import (
	"context"
	"errors"
	"net/http"
)

// Class is the retry class of an error.
type Class int

// Classes. Unknown errors are Temporary.
const (
	Temporary Class = iota
	Permanent
	// Throttled is temporary and asks the sender to slow down (HTTP 429).
	Throttled
)

func (c Class) String() string {
	switch c {
	case Permanent:
		return "permanent"
	case Throttled:
		return "throttled"
	default:
		return "temporary"
	}
}

type classified struct {
	err   error
	class Class
}

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() error { return e.err }

// Temp marks err as temporary. A nil err stays nil.
func Temp(err error) error { return mark(err, Temporary) }

// Perm marks err as permanent. A nil err stays nil.
func Perm(err error) error { return mark(err, Permanent) }

// Throttle marks err as a request to slow down. A nil err stays nil.
func Throttle(err error) error { return mark(err, Throttled) }

func mark(err error, c Class) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, class: c}
}

// permanenter is implemented by errors of other packages that know their
// class, such as contract.ValidationError.
type permanenter interface{ Permanent() bool }

// temporaryer is implemented by errors such as go-smtp's *SMTPError and
// net.Error.
type temporaryer interface{ Temporary() bool }

// ClassOf returns the class of err: the outermost explicit mark wins, then an
// error's own Permanent or Temporary method, then Temporary.
func ClassOf(err error) Class {
	var c *classified
	if errors.As(err, &c) {
		return c.class
	}
	var p permanenter
	if errors.As(err, &p) && p.Permanent() {
		return Permanent
	}
	var t temporaryer
	if errors.As(err, &t) && !t.Temporary() {
		return Permanent
	}
	return Temporary
}

// IsPermanent reports whether err is permanent.
func IsPermanent(err error) bool { return err != nil && ClassOf(err) == Permanent }

// HTTPStatus maps an error to the status a function answers with: 422 for
// permanent errors, 429 for throttling, 504 when a deadline passed, 503 for
// other temporary errors.
func HTTPStatus(err error) int {
	switch ClassOf(err) {
	case Permanent:
		return http.StatusUnprocessableEntity
	case Throttled:
		return http.StatusTooManyRequests
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusServiceUnavailable
}

// FromStatus classifies an HTTP status answered by a function: 2xx is nil,
// 429 is Throttled, 408 and 5xx are Temporary, other 4xx are Permanent.
func FromStatus(code int) (Class, bool) {
	switch {
	case code >= 200 && code < 300:
		return 0, false
	case code == http.StatusTooManyRequests:
		return Throttled, true
	case code == http.StatusRequestTimeout || code >= 500:
		return Temporary, true
	case code >= 400:
		return Permanent, true
	default:
		return Temporary, true
	}
}
