// Package mastoapi is a client of Mastodon's client API for what the
// direct message bridge needs: the account (GET
// /api/v1/accounts/verify_credentials), its direct conversations (GET
// /api/v1/conversations, paginated by max_id through the Link header), a
// status and its thread (GET /api/v1/statuses/:id and …/context), and
// posting a status with visibility direct (POST /api/v1/statuses, with an
// Idempotency-Key).
//
// The instance is the user's choice: the HTTP client given must be one of
// the egress guard (internal/netguard), so an instance URL that names a
// private address is refused unless the operator allowed it. The access
// token (OAuth 2.0, bearer) goes with every request.
//
// Every response body is read up to Config.MaxBody. A non-2xx answer
// becomes an *Error carrying Mastodon's error body ({"error",
// "error_description"}) and the X-RateLimit-* headers, classified once
// (internal/faults): 429 is throttled (RateLimited says when the window
// resets: X-RateLimit-Reset, else Retry-After, else a minute), 401 is
// permanent and Auth (the token was revoked: the user must authorize
// again), other 4xx permanent, 5xx and transport failures temporary. A
// successful answer's rate headers are returned too, so a caller stops
// before it is refused.
package mastoapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/apicall"
	"github.com/caliopen/functions/internal/faults"
)

// DefaultMaxBody bounds a response body (a page of 40 conversations with
// their last statuses, a long thread).
const DefaultMaxBody = 8 << 20

// DefaultTimeout bounds one call.
const DefaultTimeout = 15 * time.Second

// PageLimit is the most conversations a page asks for (Mastodon's maximum).
const PageLimit = 40

// VisibilityDirect is the visibility of a direct message.
const VisibilityDirect = "direct"

// Config configures a Client.
type Config struct {
	// BaseURL is the instance's, "https://mastodon.example"; required.
	BaseURL string
	// Token is the account's OAuth 2.0 access token; required.
	Token string
	// HTTP sends the requests (netguard's client); required. Its Timeout
	// bounds each call.
	HTTP *http.Client
	// MaxBody bounds a response body; 0 means DefaultMaxBody.
	MaxBody int64
	// Now is the clock a Retry-After is added to; default time.Now.
	Now func() time.Time
}

// Client calls one instance as one account; safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	max   int64
	now   func() time.Time
}

// New returns a client; a base URL that is not http(s) is an error.
func New(cfg Config) (*Client, error) {
	u, err := ParseInstance(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.HTTP == nil || cfg.Token == "" {
		return nil, errors.New("mastoapi: an HTTP client and a token are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{base: u, token: cfg.Token, http: cfg.HTTP, max: cfg.MaxBody, now: cfg.Now}, nil
}

// ParseInstance checks an instance URL: http(s), a host, no user, query or
// fragment; a trailing slash is dropped.
func ParseInstance(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case err != nil:
		return nil, fmt.Errorf("instance URL %q: %w", s, err)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.User != nil, u.RawQuery != "", u.Fragment != "":
		return nil, fmt.Errorf("instance URL %q: want http(s)://host[:port][/path]", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// Account is a Mastodon account.
type Account struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	Acct        string `json:"acct"` // username, or username@domain when remote
	DisplayName string `json:"display_name"`
	URL         string `json:"url"`
}

// Mention is an account a status mentions.
type Mention struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Acct     string `json:"acct"`
	URL      string `json:"url"`
}

// Attachment is a status's media attachment (the bytes stay on the
// instance).
type Attachment struct {
	ID          string `json:"id"`
	Type        string `json:"type"` // image, gifv, video, audio, unknown
	URL         string `json:"url"`
	PreviewURL  string `json:"preview_url,omitempty"`
	RemoteURL   string `json:"remote_url,omitempty"`
	Description string `json:"description,omitempty"`
}

// Status is a status (a direct message when its visibility is direct).
type Status struct {
	ID                 string       `json:"id"`
	URI                string       `json:"uri,omitempty"`
	URL                string       `json:"url,omitempty"`
	CreatedAt          string       `json:"created_at"`
	EditedAt           *string      `json:"edited_at,omitempty"`
	InReplyToID        *string      `json:"in_reply_to_id,omitempty"`
	InReplyToAccountID *string      `json:"in_reply_to_account_id,omitempty"`
	Visibility         string       `json:"visibility"`
	SpoilerText        string       `json:"spoiler_text,omitempty"`
	Content            string       `json:"content"` // HTML
	Text               *string      `json:"text,omitempty"`
	Account            Account      `json:"account"`
	Mentions           []Mention    `json:"mentions"`
	Media              []Attachment `json:"media_attachments"`
}

// Conversation is a direct conversation: its other accounts and its last
// status.
type Conversation struct {
	ID         string    `json:"id"`
	Unread     bool      `json:"unread"`
	Accounts   []Account `json:"accounts"`
	LastStatus *Status   `json:"last_status"`
}

// Context is a status's thread around it.
type Context struct {
	Ancestors   []Status `json:"ancestors"`
	Descendants []Status `json:"descendants"`
}

// Rate is what the X-RateLimit-* headers of a response said; zero when
// absent.
type Rate = apicall.Rate

// Error is a non-2xx answer.
type Error struct {
	Op          string // "GET /api/v1/conversations"
	Status      int
	Message     string // the body's error
	Description string // its error_description
	Rate        Rate
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %d", e.Op, e.Status)
	if e.Message != "" {
		s += " " + e.Message
	}
	if e.Description != "" && e.Description != e.Message {
		s += ": " + e.Description
	}
	return s
}

// Temporary says whether a retry may succeed.
func (e *Error) Temporary() bool { return e.Status >= 500 || e.Status == http.StatusTooManyRequests }

// Auth says the token was refused (401): revoked or expired.
func (e *Error) Auth() bool { return e.Status == http.StatusUnauthorized }

// RateLimited returns when the window of a 429 answer resets.
func RateLimited(err error) (time.Time, bool) {
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusTooManyRequests {
		return e.Rate.Reset, true
	}
	return time.Time{}, false
}

// IsAuth says err is a refusal of the token.
func IsAuth(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Auth()
}

// IsNotFound says err is a status or account that does not exist (or is
// not visible to the account: Mastodon answers 404 to both).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// classify marks err once with its retry class (apicall.ByStatus); a
// transport failure is temporary.
func classify(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return faults.Temp(err)
	}
	return apicall.ByStatus(err, e.Status)
}

// VerifyCredentials returns the token's account.
func (c *Client) VerifyCredentials(ctx context.Context) (Account, Rate, error) {
	var a Account
	rate, _, err := c.do(ctx, http.MethodGet, "/api/v1/accounts/verify_credentials", nil, nil, "", &a)
	if err == nil && a.ID == "" {
		err = faults.Temp(errors.New("GET /api/v1/accounts/verify_credentials: the answer names no account"))
	}
	return a, rate, err
}

// ConversationsPage is one page of conversations, newest first, and the
// max_id of the next (older) page, "" at the end.
type ConversationsPage struct {
	Conversations []Conversation
	Next          string
	Rate          Rate
}

// Conversations returns the page of conversations older than maxID (the
// newest when "").
func (c *Client) Conversations(ctx context.Context, maxID string) (ConversationsPage, error) {
	q := url.Values{"limit": {strconv.Itoa(PageLimit)}}
	if maxID != "" {
		q.Set("max_id", maxID)
	}
	var p ConversationsPage
	rate, h, err := c.do(ctx, http.MethodGet, "/api/v1/conversations", q, nil, "", &p.Conversations)
	p.Rate = rate
	if err != nil {
		return p, err
	}
	if len(p.Conversations) > 0 {
		p.Next = nextMaxID(h.Get("Link"))
	}
	return p, nil
}

// nextMaxID reads the max_id of the rel="next" link of a Link header.
func nextMaxID(link string) string {
	for _, part := range strings.Split(link, ",") {
		target, params, ok := strings.Cut(part, ";")
		if !ok || !strings.Contains(params, `rel="next"`) {
			continue
		}
		u, err := url.Parse(strings.Trim(strings.TrimSpace(target), "<>"))
		if err == nil {
			return u.Query().Get("max_id")
		}
	}
	return ""
}

// Status returns status id.
func (c *Client) Status(ctx context.Context, id string) (Status, Rate, error) {
	var s Status
	rate, _, err := c.do(ctx, http.MethodGet, "/api/v1/statuses/"+url.PathEscape(id), nil, nil, "", &s)
	return s, rate, err
}

// Thread returns the thread of status id (ancestors and descendants).
func (c *Client) Thread(ctx context.Context, id string) (Context, Rate, error) {
	var t Context
	rate, _, err := c.do(ctx, http.MethodGet, "/api/v1/statuses/"+url.PathEscape(id)+"/context", nil, nil, "", &t)
	return t, rate, err
}

// Post is a status to post.
type Post struct {
	Status      string `json:"status"`
	Visibility  string `json:"visibility"`
	InReplyToID string `json:"in_reply_to_id,omitempty"`
	SpoilerText string `json:"spoiler_text,omitempty"`
}

// PostStatus posts p. key is the Idempotency-Key: an instance that
// honours it (Mastodon keeps it an hour) answers a repeated post with the
// status it already created.
func (c *Client) PostStatus(ctx context.Context, p Post, key string) (Status, Rate, error) {
	body, _ := json.Marshal(p) // cannot fail
	var s Status
	rate, _, err := c.do(ctx, http.MethodPost, "/api/v1/statuses", nil, body, key, &s)
	if err == nil && s.ID == "" {
		err = faults.Temp(errors.New("POST /api/v1/statuses: the answer names no status"))
	}
	return s, rate, err
}

// DeleteStatus deletes status id (the account's own).
func (c *Client) DeleteStatus(ctx context.Context, id string) error {
	var s Status
	_, _, err := c.do(ctx, http.MethodDelete, "/api/v1/statuses/"+url.PathEscape(id), nil, nil, "", &s)
	return err
}

// do sends one request and decodes a 2xx body into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, key string, out any) (Rate, http.Header, error) {
	op := method + " " + path
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return Rate{}, nil, faults.Perm(fmt.Errorf("%s: %w", op, err))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return c.calls().Do(op, req, out)
}

// calls sends the client's calls (apicall).
func (c *Client) calls() apicall.Client {
	return apicall.Client{HTTP: c.http, Max: c.max, Rate: c.rate, Classify: classify,
		Failed: func(op string, resp *http.Response, raw []byte, rate Rate) error {
			return c.apiError(op, resp, raw, rate)
		}}
}

// apiError builds the Error of a non-2xx answer. A 429 without a reset
// header resets after Retry-After, else in a minute.
func (c *Client) apiError(op string, resp *http.Response, raw []byte, rate Rate) *Error {
	e := &Error{Op: op, Status: resp.StatusCode, Rate: rate}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.Message, e.Description = body.Error, body.Description
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if e.Status == http.StatusTooManyRequests && (rate.Reset.IsZero() || !rate.Reset.After(c.now())) {
		e.Rate.Reset = apicall.RetryAfter(resp.Header, c.now())
	}
	return e
}

// rate reads the X-RateLimit-* headers; the reset is a timestamp (ISO
// 8601, Mastodon's and GoToSocial's form) or Unix seconds.
func (c *Client) rate(h http.Header) Rate {
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	v := strings.TrimSpace(h.Get("X-RateLimit-Reset"))
	if err1 != nil || err2 != nil || v == "" {
		return Rate{}
	}
	reset, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		n, nerr := strconv.ParseInt(v, 10, 64)
		if nerr != nil || n <= 0 {
			return Rate{}
		}
		reset = time.Unix(n, 0)
	}
	return Rate{Limit: limit, Remaining: remaining, Reset: reset, Known: true}
}

// Later says status id a is newer than b. Mastodon's ids are decimal
// numbers (snowflakes), GoToSocial's ULIDs: both sort as strings of the
// same length, so a longer id is the newer.
func Later(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

// StatusDoc is the raw message of one direct status as the bridge stores
// it: the status as the instance rendered it, the account's conversation
// it belongs to with that conversation's other accounts, and the account
// the bridge synced (its own).
type StatusDoc struct {
	Status         Status    `json:"status"`
	ConversationID string    `json:"conversation_id"`
	Accounts       []Account `json:"accounts,omitempty"`
	Me             Account   `json:"account"`
}

// Address is the address of an account: acct when it names a domain
// (a remote account), else the username at the host of its profile URL
// (a local account), lowercased.
func Address(acct, profileURL string) string {
	acct = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(acct), "@"))
	if strings.Contains(acct, "@") || acct == "" {
		return acct
	}
	if u, err := url.Parse(profileURL); err == nil && u.Host != "" {
		return acct + "@" + strings.ToLower(u.Host)
	}
	return acct
}
