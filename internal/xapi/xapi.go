// Package xapi is a client of the X (Twitter) API v2 for what the direct
// message bridge needs: the authenticated user (GET /2/users/me), users by
// username or id, the user's direct message events (GET /2/dm_events,
// one-to-one and group conversations, paginated by meta.next_token), and
// sending a direct message to a user or to a conversation.
//
// Authentication is the http.Client's: OAuth2 (user context, a bearer
// access token, renewed through golang.org/x/oauth2) or OAuth1 (user
// context, the request signed by github.com/dghubble/oauth1). The base URL
// is configurable (the tests' server, internal/xapitest).
//
// Every response body is read up to Config.MaxBody. A non-2xx answer
// becomes an *Error carrying the API's problem body (title, detail, type,
// errors) and the rate-limit headers, classified once (internal/faults):
// 429 is throttled (RateLimited says when the window resets), 401 is
// permanent and Auth, other 4xx permanent, 5xx and transport failures
// temporary. A successful answer's x-rate-limit-* headers are returned too,
// so a caller stops before it is refused.
package xapi

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

// DefaultBaseURL is the X API's.
const DefaultBaseURL = "https://api.x.com"

// DefaultMaxBody bounds a response body read (a page of 100 events with
// their users and media is far below it).
const DefaultMaxBody = 4 << 20

// MaxResults is the most events GET /2/dm_events returns a page.
const MaxResults = 100

// DMEventFields and the expansions below are what the bridge asks for with
// every event page.
const (
	DMEventFields = "id,event_type,text,sender_id,dm_conversation_id,created_at,participant_ids,attachments,referenced_tweets"
	Expansions    = "sender_id,participant_ids,attachments.media_keys"
	UserFields    = "id,name,username"
	MediaFields   = "media_key,type,url,preview_image_url,width,height"
)

// Event types of GET /2/dm_events.
const (
	MessageCreate     = "MessageCreate"
	ParticipantsJoin  = "ParticipantsJoin"
	ParticipantsLeave = "ParticipantsLeave"
)

// Config configures a Client.
type Config struct {
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string
	// HTTP sends the requests and authenticates them (see OAuth2Client
	// and OAuth1Client); required. Its Timeout bounds each call.
	HTTP *http.Client
	// MaxBody bounds a response body; 0 means DefaultMaxBody.
	MaxBody int64
	// Now is the clock the reset times are compared with; default time.Now.
	Now func() time.Time
}

// Client calls the X API v2; safe for concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
	max  int64
	now  func() time.Time
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.HTTP == nil {
		return nil, errors.New("xapi: an HTTP client is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("xapi: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{base: u, http: cfg.HTTP, max: cfg.MaxBody, now: cfg.Now}, nil
}

// User is an X account.
type User struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username"`
}

// Attachments of a direct message event.
type Attachments struct {
	MediaKeys []string `json:"media_keys,omitempty"`
	CardIDs   []string `json:"card_ids,omitempty"`
}

// ReferencedTweet is a post a direct message quotes.
type ReferencedTweet struct {
	ID string `json:"id"`
}

// Event is a direct message event.
type Event struct {
	ID               string            `json:"id"`
	EventType        string            `json:"event_type"`
	Text             string            `json:"text,omitempty"`
	SenderID         string            `json:"sender_id,omitempty"`
	DMConversationID string            `json:"dm_conversation_id,omitempty"`
	CreatedAt        string            `json:"created_at,omitempty"`
	ParticipantIDs   []string          `json:"participant_ids,omitempty"`
	Attachments      *Attachments      `json:"attachments,omitempty"`
	ReferencedTweets []ReferencedTweet `json:"referenced_tweets,omitempty"`
}

// Media is an attachment's description (expansion attachments.media_keys).
type Media struct {
	MediaKey        string `json:"media_key"`
	Type            string `json:"type"`
	URL             string `json:"url,omitempty"`
	PreviewImageURL string `json:"preview_image_url,omitempty"`
	Width           int    `json:"width,omitempty"`
	Height          int    `json:"height,omitempty"`
}

// Includes are the expanded objects of a response.
type Includes struct {
	Users []User  `json:"users,omitempty"`
	Media []Media `json:"media,omitempty"`
}

// Rate is what the x-rate-limit-* headers of a response said; zero when
// absent.
type Rate = apicall.Rate

// Problem is one entry of a response's errors.
type Problem struct {
	Title        string `json:"title,omitempty"`
	Detail       string `json:"detail,omitempty"`
	Type         string `json:"type,omitempty"`
	Message      string `json:"message,omitempty"`
	Value        string `json:"value,omitempty"`
	Parameter    string `json:"parameter,omitempty"`
	ResourceType string `json:"resource_type,omitempty"`
	ResourceID   string `json:"resource_id,omitempty"`
}

// Error is a non-2xx answer of the API, or a 2xx answer that carried only
// errors (a user that does not exist).
type Error struct {
	Op     string // the call, "GET /2/users/me"
	Status int
	Title  string
	Detail string
	Type   string
	// Problems are the body's errors.
	Problems []Problem
	Rate     Rate
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %d", e.Op, e.Status)
	if e.Title != "" {
		s += " " + e.Title
	}
	if e.Detail != "" && e.Detail != e.Title {
		s += ": " + e.Detail
	}
	for i, p := range e.Problems {
		if i == 3 {
			s += fmt.Sprintf(" (and %d more)", len(e.Problems)-i)
			break
		}
		s += "; " + firstOf(p.Detail, p.Message, p.Title)
	}
	return s
}

// Temporary says whether a retry may succeed (faults reads it).
func (e *Error) Temporary() bool { return e.Status >= 500 || e.Status == http.StatusTooManyRequests }

// Auth says the credentials were refused (401): the user must authorize
// again. A 403 refuses the action itself (a recipient who takes no direct
// messages, a conversation the user left) and is permanent too.
func (e *Error) Auth() bool { return e.Status == http.StatusUnauthorized }

// NotFound says the resource does not exist.
func (e *Error) NotFound() bool {
	if e.Status == http.StatusNotFound {
		return true
	}
	for _, p := range e.Problems {
		if strings.HasSuffix(p.Type, "/resource-not-found") {
			return true
		}
	}
	return false
}

// RateLimited returns when the window of a 429 answer resets (the zero
// time when the answer gave none).
func RateLimited(err error) (time.Time, bool) {
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusTooManyRequests {
		return e.Rate.Reset, true
	}
	return time.Time{}, false
}

// IsAuth says err is a refusal of the credentials.
func IsAuth(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Auth()
}

// IsNotFound says err is a resource that does not exist.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.NotFound()
}

// classify marks err once with its retry class (apicall.ByStatus).
func classify(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		// A transport that knows its failure is permanent says so (a
		// refused token renewal); network failures are temporary.
		var p interface{ Permanent() bool }
		if errors.As(err, &p) && p.Permanent() {
			return faults.Perm(err)
		}
		return faults.Temp(err)
	}
	return apicall.ByStatus(err, e.Status)
}

// Me returns the authenticated user (GET /2/users/me).
func (c *Client) Me(ctx context.Context) (User, Rate, error) {
	return c.user(ctx, "/2/users/me")
}

// UserByUsername returns the user with this username
// (GET /2/users/by/username/:username).
func (c *Client) UserByUsername(ctx context.Context, username string) (User, Rate, error) {
	username = strings.TrimPrefix(strings.TrimSpace(username), "@")
	if !validUsername(username) {
		return User{}, Rate{}, faults.Perm(fmt.Errorf("xapi: %q is not a username", username))
	}
	return c.user(ctx, "/2/users/by/username/"+username)
}

// UserByID returns the user with this id (GET /2/users/:id).
func (c *Client) UserByID(ctx context.Context, id string) (User, Rate, error) {
	if !IsID(id) {
		return User{}, Rate{}, faults.Perm(fmt.Errorf("xapi: %q is not a user id", id))
	}
	return c.user(ctx, "/2/users/"+id)
}

func (c *Client) user(ctx context.Context, path string) (User, Rate, error) {
	var body struct {
		Data   *User     `json:"data"`
		Errors []Problem `json:"errors"`
	}
	q := url.Values{"user.fields": {UserFields}}
	rate, err := c.do(ctx, http.MethodGet, path, q, nil, &body)
	if err != nil {
		return User{}, rate, err
	}
	if body.Data == nil || body.Data.ID == "" {
		e := &Error{Op: "GET " + path, Status: http.StatusNotFound, Title: "Not Found Error", Problems: body.Errors, Rate: rate}
		return User{}, rate, classify(e)
	}
	return *body.Data, rate, nil
}

// EventsQuery selects a page of GET /2/dm_events.
type EventsQuery struct {
	// MaxResults is 1 to 100; 0 means 100.
	MaxResults int
	// PaginationToken is the previous page's NextToken.
	PaginationToken string
}

// EventsPage is one page of direct message events, newest first.
type EventsPage struct {
	Events    []Event
	Includes  Includes
	NextToken string
	Rate      Rate
}

// DMEvents returns a page of the authenticated user's direct message events
// of every type, in one-to-one and group conversations, newest first.
func (c *Client) DMEvents(ctx context.Context, q EventsQuery) (EventsPage, error) {
	n := q.MaxResults
	if n <= 0 || n > MaxResults {
		n = MaxResults
	}
	v := url.Values{
		"dm_event.fields": {DMEventFields},
		"event_types":     {MessageCreate + "," + ParticipantsJoin + "," + ParticipantsLeave},
		"expansions":      {Expansions},
		"user.fields":     {UserFields},
		"media.fields":    {MediaFields},
		"max_results":     {strconv.Itoa(n)},
	}
	if q.PaginationToken != "" {
		v.Set("pagination_token", q.PaginationToken)
	}
	var body struct {
		Data     []Event  `json:"data"`
		Includes Includes `json:"includes"`
		Meta     struct {
			ResultCount int    `json:"result_count"`
			NextToken   string `json:"next_token"`
		} `json:"meta"`
	}
	rate, err := c.do(ctx, http.MethodGet, "/2/dm_events", v, nil, &body)
	if err != nil {
		return EventsPage{Rate: rate}, err
	}
	return EventsPage{Events: body.Data, Includes: body.Includes, NextToken: body.Meta.NextToken, Rate: rate}, nil
}

// Sent is what sending a direct message created.
type Sent struct {
	DMConversationID string `json:"dm_conversation_id"`
	DMEventID        string `json:"dm_event_id"`
}

// SendToUser sends text to the user participantID, in their one-to-one
// conversation (POST /2/dm_conversations/with/:participant_id/messages).
func (c *Client) SendToUser(ctx context.Context, participantID, text string) (Sent, Rate, error) {
	if !IsID(participantID) {
		return Sent{}, Rate{}, faults.Perm(fmt.Errorf("xapi: %q is not a user id", participantID))
	}
	return c.send(ctx, "/2/dm_conversations/with/"+participantID+"/messages", text)
}

// SendToConversation sends text to conversation id
// (POST /2/dm_conversations/:dm_conversation_id/messages), one-to-one or
// group.
func (c *Client) SendToConversation(ctx context.Context, id, text string) (Sent, Rate, error) {
	if !IsConversationID(id) {
		return Sent{}, Rate{}, faults.Perm(fmt.Errorf("xapi: %q is not a conversation id", id))
	}
	return c.send(ctx, "/2/dm_conversations/"+id+"/messages", text)
}

// MaxTextLen is the longest direct message text, in characters.
const MaxTextLen = 10000

func (c *Client) send(ctx context.Context, path, text string) (Sent, Rate, error) {
	if strings.TrimSpace(text) == "" {
		return Sent{}, Rate{}, faults.Perm(errors.New("xapi: a direct message needs a text"))
	}
	if n := len([]rune(text)); n > MaxTextLen {
		return Sent{}, Rate{}, faults.Perm(fmt.Errorf("xapi: a direct message is at most %d characters, this one %d", MaxTextLen, n))
	}
	b, _ := json.Marshal(map[string]string{"text": text}) // cannot fail
	var body struct {
		Data   *Sent     `json:"data"`
		Errors []Problem `json:"errors"`
	}
	rate, err := c.do(ctx, http.MethodPost, path, nil, b, &body)
	if err != nil {
		return Sent{}, rate, err
	}
	if body.Data == nil || body.Data.DMEventID == "" {
		return Sent{}, rate, faults.Temp(fmt.Errorf("POST %s: the answer names no dm_event_id", path))
	}
	return *body.Data, rate, nil
}

// do sends one request and decodes a 2xx body into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) (Rate, error) {
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
		return Rate{}, faults.Perm(fmt.Errorf("%s: %w", op, err))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rate, _, err := c.calls().Do(op, req, out)
	return rate, err
}

// calls sends the client's calls (apicall).
func (c *Client) calls() apicall.Client {
	return apicall.Client{HTTP: c.http, Max: c.max, Rate: c.rate, Classify: classify,
		Failed: func(op string, resp *http.Response, raw []byte, rate Rate) error {
			return c.apiError(op, resp, raw, rate)
		}}
}

// apiError builds the Error of a non-2xx answer from its problem body. A
// 429 without a reset header resets after Retry-After, else in a minute.
func (c *Client) apiError(op string, resp *http.Response, raw []byte, rate Rate) *Error {
	e := &Error{Op: op, Status: resp.StatusCode, Rate: rate}
	var body struct {
		Title  string    `json:"title"`
		Detail string    `json:"detail"`
		Type   string    `json:"type"`
		Errors []Problem `json:"errors"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.Title, e.Detail, e.Type, e.Problems = body.Title, body.Detail, body.Type, body.Errors
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	if e.Status == http.StatusTooManyRequests && rate.Reset.IsZero() {
		e.Rate.Reset = apicall.RetryAfter(resp.Header, c.now())
	}
	return e
}

// rate reads the x-rate-limit-* headers.
func (c *Client) rate(h http.Header) Rate {
	var r Rate
	limit, err1 := strconv.Atoi(h.Get("x-rate-limit-limit"))
	remaining, err2 := strconv.Atoi(h.Get("x-rate-limit-remaining"))
	reset, err3 := strconv.ParseInt(h.Get("x-rate-limit-reset"), 10, 64)
	if err1 == nil && err2 == nil && err3 == nil && reset > 0 {
		r = Rate{Limit: limit, Remaining: remaining, Reset: time.Unix(reset, 0), Known: true}
	}
	return r
}

// IsID says s is a numeric X id (a user, an event).
func IsID(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// IsConversationID says s is a conversation id: a group's numeric id, or
// a one-to-one conversation's "<id>-<id>".
func IsConversationID(s string) bool {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return IsID(s)
	}
	return IsID(a) && IsID(b)
}

// validUsername says s can be an X username: 1 to 15 letters, digits or
// underscores.
func validUsername(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ValidUsername says s (without @) can be an X username.
func ValidUsername(s string) bool { return validUsername(s) }

// Later says whether event id a is newer than b: X ids grow with time, and
// are compared as numbers (a longer id is larger).
func Later(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// EventDoc is one direct message event with the users and media it names,
// in the API's own shape ({"data": event, "includes": {...}}): what the
// bridge stores as the raw message of an event.
type EventDoc struct {
	Data     Event    `json:"data"`
	Includes Includes `json:"includes"`
}
