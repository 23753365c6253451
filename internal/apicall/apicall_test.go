package apicall

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/faults"
)

func TestByStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   faults.Class
	}{
		{http.StatusTooManyRequests, faults.Throttled},
		{http.StatusInternalServerError, faults.Temporary},
		{http.StatusServiceUnavailable, faults.Temporary},
		{http.StatusUnauthorized, faults.Permanent},
		{http.StatusNotFound, faults.Permanent},
		{http.StatusUnprocessableEntity, faults.Permanent},
	} {
		if got := faults.ClassOf(ByStatus(errors.New("answer"), tc.status)); got != tc.want {
			t.Errorf("ByStatus(%d) is %v, want %v", tc.status, got, tc.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{{"", time.Minute}, {"30", 30 * time.Second}, {" 7 ", 7 * time.Second}, {"0", time.Minute}, {"-5", time.Minute},
		{"Wed, 21 Oct 2015 07:28:00 GMT", time.Minute}} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Retry-After", tc.header)
		}
		if got := RetryAfter(h, now).Sub(now); got != tc.want {
			t.Errorf("RetryAfter(%q) is now+%v, want now+%v", tc.header, got, tc.want)
		}
	}
}
