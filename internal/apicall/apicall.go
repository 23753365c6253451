// Package apicall is what the JSON API clients of the direct message
// bridges (xapi, mastoapi) share: one call sent and its answer read within
// a size limit, a 2xx answer decoded, a failure classified once by its
// status (429 throttled, 5xx temporary, the rest permanent; a transport
// failure temporary), the rate-limit window a response announced, and the
// reset of a 429 that announced none.
package apicall

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/faults"
)

// Rate is what a response's rate-limit headers said; zero when absent.
type Rate struct {
	Limit, Remaining int
	Reset            time.Time
	Known            bool // the headers were there
}

// ByStatus classifies err, an API's answer with HTTP status status: 429
// throttled, 5xx temporary, the rest permanent.
func ByStatus(err error, status int) error {
	switch {
	case status == http.StatusTooManyRequests:
		return faults.Throttle(err)
	case status >= 500:
		return faults.Temp(err)
	}
	return faults.Perm(err)
}

// RetryAfter is when the window of a 429 answer with header h and no
// reset of its own ends: after its Retry-After seconds, else in a minute.
func RetryAfter(h http.Header, now time.Time) time.Time {
	wait := time.Minute
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s > 0 {
		wait = time.Duration(s) * time.Second
	}
	return now.Add(wait)
}

// Client sends one API's calls.
type Client struct {
	HTTP *http.Client
	// Max bounds an answer's body.
	Max int64
	// Rate reads a response's rate-limit headers.
	Rate func(h http.Header) Rate
	// Failed is the error of a non-2xx answer of call op with body raw.
	Failed func(op string, resp *http.Response, raw []byte, rate Rate) error
	// Classify marks a failure of the transport, or Failed's error, once
	// with its retry class.
	Classify func(err error) error
}

// Do sends req, call op, and decodes its 2xx answer into out; it returns
// the answer's rate limit and header (nil when none came).
func (c Client) Do(op string, req *http.Request, out any) (Rate, http.Header, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Rate{}, nil, c.Classify(fmt.Errorf("%s: %w", op, err))
	}
	defer resp.Body.Close()
	rate := c.Rate(resp.Header)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.Max+1))
	if err != nil {
		return rate, resp.Header, c.Classify(fmt.Errorf("%s: read the answer: %w", op, err))
	}
	if int64(len(raw)) > c.Max {
		return rate, resp.Header, faults.Perm(fmt.Errorf("%s: the answer is over %d bytes", op, c.Max))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return rate, resp.Header, c.Classify(c.Failed(op, resp, raw, rate))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return rate, resp.Header, faults.Temp(fmt.Errorf("%s: the answer is not the documented JSON: %w", op, err))
	}
	return rate, resp.Header, nil
}
