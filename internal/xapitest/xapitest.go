// Package xapitest is an in-process X API v2 server for tests: the direct
// message endpoints the bridge uses, behaving as the public X API v2
// reference documents them. It is a hand-written fake because no real X
// API can run here; its behaviour is checked against the reference's
// example requests and answers (testdata/reference.json, see the package
// tests), so that a client that passes against it passes against the real
// service as far as the reference tells.
//
// What it serves:
//
//   - GET /2/users/me, GET /2/users/by/username/:username, GET /2/users/:id
//     (an unknown user is a 200 answer carrying only errors, of type
//     .../problems/resource-not-found, as the real API does);
//   - GET /2/dm_events: the authenticated user's events in every one of
//     their conversations (one-to-one and group), newest first,
//     max_results 1 to 100 (default 100, else a 400 invalid-request
//     problem), pagination_token from meta.next_token, the fields of
//     dm_event.fields (id, event_type and text by default), expansions
//     sender_id, participant_ids and attachments.media_keys into includes;
//     events added while a client pages do not disturb its pages (a
//     token names the last event it returned);
//   - POST /2/dm_conversations/with/:participant_id/messages (a one-to-one
//     conversation, "<low id>-<high id>") and POST
//     /2/dm_conversations/:dm_conversation_id/messages (a member of the
//     conversation only), answering 201 {"data":{dm_conversation_id,
//     dm_event_id}};
//   - POST /2/oauth2/token with grant_type=refresh_token, rotating the
//     refresh token, with the client authentication X's OAuth 2.0
//     reference asks: a confidential client (one with a secret) in the
//     HTTP Basic header only (its secret in the body is refused, 401
//     unauthorized_client), a public client by client_id in the body; an
//     unknown, used or revoked refresh token is 400 invalid_request
//     ("Value passed for the token was invalid.").
//
// Authentication: "Authorization: Bearer <access token>" (OAuth 2.0 user
// context; an unknown or expired token is refused), or an OAuth 1.0a
// header whose HMAC-SHA1 signature is verified against the consumer and
// token secrets over the RFC 5849 signature base string (method, base URL,
// query and oauth_* parameters), with a timestamp within 5 minutes of the
// wall clock (not the injectable one: clients sign with the wall clock)
// and a nonce used once. A refusal is 401 with the
// documented problem body {"title":"Unauthorized","type":"about:blank",
// "status":401,"detail":"Unauthorized"}.
//
// Rate limits: each answer carries x-rate-limit-limit, -remaining and
// -reset (epoch seconds) for its endpoint group and user, over windows of
// 15 minutes on the server's clock (injectable: Server.SetNow). A request
// beyond the limit is 429 {"title":"Too Many Requests","detail":"Too Many
// Requests","type":"about:blank","status":429} with the same headers.
// The default limits are the reference's: 300 requests per 15 minutes for
// the direct message lookups, shared; 900 for user lookups (75 for
// users/me); 200 for sending a direct message.
//
// For tests: a request counter per endpoint, failure injection (Fail),
// revocation of any token (Revoke: an access token is then refused before
// its expiry), users who refuse direct messages (RefuseDMs: 403 on send),
// and a hook that runs before each request is served (OnRequest).
package xapitest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dghubble/oauth1"
)

// Window is the length of a rate-limit window.
const Window = 15 * time.Minute

// Endpoint groups, the keys of Limits and Requests.
const (
	GroupDMLookup = "dm_lookup" // GET /2/dm_events (and the conversation lookups)
	GroupDMSend   = "dm_send"   // POST .../messages
	GroupUsers    = "users"     // GET /2/users/by/username/:username, /2/users/:id
	GroupMe       = "users_me"  // GET /2/users/me
	GroupToken    = "token"     // POST /2/oauth2/token (not limited)
)

// DefaultLimits are the reference's per-user limits per 15 minutes.
func DefaultLimits() map[string]int {
	return map[string]int{GroupDMLookup: 300, GroupDMSend: 200, GroupUsers: 900, GroupMe: 75}
}

// User is an account of the server.
type User struct {
	ID, Username, Name string
}

// Event is a stored direct message event.
type Event struct {
	ID             string
	Type           string // MessageCreate, ParticipantsJoin, ParticipantsLeave
	Conversation   string
	SenderID       string
	Text           string
	ParticipantIDs []string // join and leave events
	MediaKeys      []string
	CreatedAt      time.Time
}

// Media is an uploaded attachment.
type Media struct {
	Key, Type, URL string
}

type conversation struct {
	id      string
	group   bool
	members map[string]bool
}

type window struct {
	start time.Time
	used  int
}

// Server is the fake X API; its methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	now       func() time.Time
	users     map[string]*User // by id
	byName    map[string]string
	bearer    map[string]bearer  // access token → owner
	refresh   map[string]string  // refresh token → user id
	consumers map[string]string  // consumer key → secret
	oauth1    map[string]oauth1T // access token → secret and user
	clients   map[string]string  // OAuth2 client id → secret ("" for a public client)
	refusing  map[string]bool    // users who take no direct messages
	nonces    map[string]time.Time
	convs     map[string]*conversation
	events    []Event // oldest first
	media     map[string]Media
	nextID    uint64
	limits    map[string]int
	windows   map[[2]string]*window
	requests  map[string]int
	sent      []Event // events created through the API
	last      http.Header
	fail      []failure
	onRequest func(r *http.Request)
}

type bearer struct {
	user    string
	expires time.Time
}

type oauth1T struct{ secret, user string }

type failure struct {
	group  string
	status int
	count  int
}

// New starts a server; Close it when done.
func New() *Server {
	s := &Server{
		now: time.Now, users: map[string]*User{}, byName: map[string]string{}, bearer: map[string]bearer{},
		refresh: map[string]string{}, consumers: map[string]string{}, oauth1: map[string]oauth1T{},
		clients: map[string]string{}, refusing: map[string]bool{}, nonces: map[string]time.Time{}, convs: map[string]*conversation{},
		media: map[string]Media{}, nextID: 1_700_000_000_000_000_000, limits: DefaultLimits(),
		windows: map[[2]string]*window{}, requests: map[string]int{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetNow replaces the server's clock (rate-limit windows, token expiry,
// event times).
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetLimit sets the requests allowed per window for a group.
func (s *Server) SetLimit(group string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits[group] = n
}

// OnRequest sets a hook run before each request is served (outside the
// server's lock: it may add events).
func (s *Server) OnRequest(fn func(r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRequest = fn
}

// Fail makes the next count requests of group answer status with the
// documented problem body.
func (s *Server) Fail(group string, status, count int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, failure{group: group, status: status, count: count})
}

// ClearFailures drops the failures Fail injected and not yet served.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = nil
}

// AddUser creates an account.
func (s *Server) AddUser(id, username, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = &User{ID: id, Username: username, Name: name}
	s.byName[strings.ToLower(username)] = id
}

// AddBearer lets token authenticate as user id until expires (zero: never
// expires).
func (s *Server) AddBearer(token, userID string, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bearer[token] = bearer{user: userID, expires: expires}
}

// AddOAuth2Client registers an OAuth2 application and a refresh token of
// user id with it.
func (s *Server) AddOAuth2Client(clientID, secret, refreshToken, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = secret
	s.refresh[refreshToken] = userID
}

// Revoke makes token unusable, whatever it is: an OAuth 2.0 access token
// (refused with 401 before its expiry), a refresh token (the token
// endpoint refuses it), or an OAuth 1.0a access token.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.bearer, token)
	delete(s.refresh, token)
	delete(s.oauth1, token)
}

// RefuseDMs makes user id refuse direct messages from anyone: sending to
// them answers 403, as X does for an account whose settings refuse them.
func (s *Server) RefuseDMs(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusing[userID] = true
}

// AddOAuth1 registers an application's consumer key and secret and a
// user's access token and secret.
func (s *Server) AddOAuth1(consumerKey, consumerSecret, token, tokenSecret, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consumers[consumerKey] = consumerSecret
	s.oauth1[token] = oauth1T{secret: tokenSecret, user: userID}
}

// AddMedia registers an attachment.
func (s *Server) AddMedia(key, typ, url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media[key] = Media{Key: key, Type: typ, URL: url}
}

// OneToOne returns the id of the one-to-one conversation of users a and b.
func OneToOne(a, b string) string {
	if later(a, b) {
		a, b = b, a
	}
	return a + "-" + b
}

// Message adds a MessageCreate event from sender in the one-to-one
// conversation with to, and returns it.
func (s *Server) Message(sender, to, text string, mediaKeys ...string) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.oneToOne(sender, to)
	return s.add(Event{Type: "MessageCreate", Conversation: c.id, SenderID: sender, Text: text, MediaKeys: mediaKeys})
}

// Group creates a group conversation of members (the first creates it)
// with their ParticipantsJoin event, and returns its id.
func (s *Server) Group(members ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	id := strconv.FormatUint(s.nextID, 10)
	c := &conversation{id: id, group: true, members: map[string]bool{}}
	for _, m := range members {
		c.members[m] = true
	}
	s.convs[id] = c
	s.add(Event{Type: "ParticipantsJoin", Conversation: id, SenderID: members[0], ParticipantIDs: slices.Clone(members)})
	return id
}

// GroupMessage adds a MessageCreate event from sender in group conv.
func (s *Server) GroupMessage(conv, sender, text string) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(Event{Type: "MessageCreate", Conversation: conv, SenderID: sender, Text: text})
}

// Leave removes user from group conv with a ParticipantsLeave event.
func (s *Server) Leave(conv, user string) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.add(Event{Type: "ParticipantsLeave", Conversation: conv, ParticipantIDs: []string{user}})
	delete(s.convs[conv].members, user)
	return ev
}

// Sent returns the events created through the API, oldest first.
func (s *Server) Sent() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// LastHeader returns a header of the last answer.
func (s *Server) LastHeader(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.Get(name)
}

// Requests returns how many requests each group was sent (refused ones
// included).
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// newToken returns a random token.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) oneToOne(a, b string) *conversation {
	id := OneToOne(a, b)
	c := s.convs[id]
	if c == nil {
		c = &conversation{id: id, members: map[string]bool{a: true, b: true}}
		s.convs[id] = c
	}
	return c
}

func (s *Server) add(ev Event) Event {
	s.nextID++
	ev.ID = strconv.FormatUint(s.nextID, 10)
	ev.CreatedAt = s.now().UTC().Truncate(time.Millisecond)
	s.events = append(s.events, ev)
	return ev
}

// later compares numeric ids.
func later(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

// problem writes the documented problem body.
func problem(w http.ResponseWriter, status int, title, detail, typ string, extra map[string]any) {
	body := map[string]any{"title": title, "detail": detail, "type": typ, "status": status}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func invalid(w http.ResponseWriter, param, value, msg string) {
	problem(w, http.StatusBadRequest, "Invalid Request", "One or more parameters to your request was invalid.",
		"https://api.twitter.com/2/problems/invalid-request", map[string]any{
			"errors": []map[string]any{{"parameters": map[string][]string{param: {value}}, "message": msg}}})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// route names the endpoint group of a request and its handler.
func (s *Server) route(r *http.Request) (string, func(http.ResponseWriter, *http.Request, string)) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/2/oauth2/token":
		return GroupToken, nil
	case r.Method == http.MethodGet && p == "/2/users/me":
		return GroupMe, s.me
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/2/users/by/username/"):
		return GroupUsers, s.userByName
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/2/users/"):
		return GroupUsers, s.userByID
	case r.Method == http.MethodGet && p == "/2/dm_events":
		return GroupDMLookup, s.dmEvents
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/2/dm_conversations/") && strings.HasSuffix(p, "/messages"):
		return GroupDMSend, s.send
	}
	return "", nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hook := s.onRequest
	s.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	group, handler := s.route(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[group]++
	defer func() { s.last = w.Header().Clone() }()
	if group == GroupToken {
		s.token(w, r)
		return
	}
	if handler == nil {
		problem(w, http.StatusNotFound, "Not Found", "Sorry, that page does not exist.", "about:blank", nil)
		return
	}
	user, ok := s.authenticate(r)
	if !ok {
		problem(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", "about:blank", nil)
		return
	}
	if !s.allow(w, group, user) {
		problem(w, http.StatusTooManyRequests, "Too Many Requests", "Too Many Requests", "about:blank", nil)
		return
	}
	for i := range s.fail {
		f := &s.fail[i]
		if f.group == group && f.count > 0 {
			f.count--
			problem(w, f.status, http.StatusText(f.status), http.StatusText(f.status), "about:blank", nil)
			return
		}
	}
	handler(w, r, user)
}

// allow counts one request of user in group's window and sets the
// rate-limit headers; false when the window is spent.
func (s *Server) allow(w http.ResponseWriter, group, user string) bool {
	limit := s.limits[group]
	now := s.now()
	k := [2]string{group, user}
	win := s.windows[k]
	if win == nil || !now.Before(win.start.Add(Window)) {
		win = &window{start: now}
		s.windows[k] = win
	}
	ok := win.used < limit
	if ok {
		win.used++
	}
	h := w.Header()
	h.Set("x-rate-limit-limit", strconv.Itoa(limit))
	h.Set("x-rate-limit-remaining", strconv.Itoa(max(limit-win.used, 0)))
	h.Set("x-rate-limit-reset", strconv.FormatInt(win.start.Add(Window).Unix(), 10))
	return ok
}

// authenticate returns the user a request authenticates as.
func (s *Server) authenticate(r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
		b, found := s.bearer[strings.TrimSpace(tok)]
		if !found || (!b.expires.IsZero() && !s.now().Before(b.expires)) {
			return "", false
		}
		return b.user, true
	}
	if rest, ok := strings.CutPrefix(auth, "OAuth "); ok {
		return s.verifyOAuth1(r, rest)
	}
	return "", false
}

// verifyOAuth1 checks an OAuth 1.0a header (RFC 5849 §3.4.1, HMAC-SHA1).
func (s *Server) verifyOAuth1(r *http.Request, header string) (string, bool) {
	params := map[string]string{}
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", false
		}
		k, err1 := url.PathUnescape(k)
		v, err2 := url.PathUnescape(strings.Trim(v, `"`))
		if err1 != nil || err2 != nil {
			return "", false
		}
		params[k] = v
	}
	sig := params["oauth_signature"]
	secret, okc := s.consumers[params["oauth_consumer_key"]]
	tok, okt := s.oauth1[params["oauth_token"]]
	if sig == "" || !okc || !okt || params["oauth_signature_method"] != "HMAC-SHA1" {
		return "", false
	}
	ts, err := strconv.ParseInt(params["oauth_timestamp"], 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return "", false
	}
	nonce := params["oauth_consumer_key"] + "\x00" + params["oauth_nonce"] + "\x00" + params["oauth_timestamp"]
	if params["oauth_nonce"] == "" || !s.nonces[nonce].IsZero() {
		return "", false
	}
	delete(params, "oauth_signature")
	want := Signature(r.Method, BaseURL(r), mergeQuery(params, r.URL.Query()), secret, tok.secret)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "", false
	}
	if len(s.nonces) > 100000 {
		clear(s.nonces)
	}
	s.nonces[nonce] = s.now()
	return tok.user, true
}

// BaseURL is a request's base string URI: scheme, lowercased host
// (without a default port) and path.
func BaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := strings.ToLower(r.Host)
	host = strings.TrimSuffix(strings.TrimSuffix(host, ":80"), ":443")
	return scheme + "://" + host + r.URL.EscapedPath()
}

func mergeQuery(p map[string]string, q url.Values) [][2]string {
	var out [][2]string
	for k, v := range p {
		out = append(out, [2]string{k, v})
	}
	for k, vs := range q {
		for _, v := range vs {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// Signature is the HMAC-SHA1 signature of a request (RFC 5849 §3.4):
// the base string of method, base URL and the parameters (percent
// encoded, sorted by key then value, joined), signed with the consumer
// secret and token secret.
func Signature(method, baseURL string, params [][2]string, consumerSecret, tokenSecret string) string {
	enc := make([]string, len(params))
	for i, p := range params {
		enc[i] = oauth1.PercentEncode(p[0]) + "=" + oauth1.PercentEncode(p[1])
	}
	sort.Strings(enc)
	base := strings.ToUpper(method) + "&" + oauth1.PercentEncode(baseURL) + "&" + oauth1.PercentEncode(strings.Join(enc, "&"))
	mac := hmac.New(sha1.New, []byte(oauth1.PercentEncode(consumerSecret)+"&"+oauth1.PercentEncode(tokenSecret)))
	mac.Write([]byte(base))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// token serves the refresh_token grant. A confidential client
// authenticates with HTTP Basic only; a public client names itself by
// client_id in the body.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	id, secret, basic := r.BasicAuth()
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "bad form"})
		return
	}
	refused := func() {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized_client",
			"error_description": "Missing valid authorization header"})
	}
	if !basic {
		id = r.PostForm.Get("client_id")
	}
	want, known := s.clients[id]
	switch {
	case !known:
		refused()
		return
	case want != "" && (!basic || secret != want || r.PostForm.Has("client_secret")):
		refused() // a confidential client: Basic, and its secret nowhere else
		return
	case want == "" && (basic || r.PostForm.Has("client_secret")):
		refused() // a public client has no secret to send
		return
	}
	user, known := s.refresh[r.PostForm.Get("refresh_token")]
	if r.PostForm.Get("grant_type") != "refresh_token" || !known {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request",
			"error_description": "Value passed for the token was invalid."})
		return
	}
	delete(s.refresh, r.PostForm.Get("refresh_token"))
	access, refresh := newToken(), newToken()
	s.bearer[access] = bearer{user: user, expires: s.now().Add(2 * time.Hour)}
	s.refresh[refresh] = user
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "bearer", "expires_in": 7200, "access_token": access,
		"scope": "dm.read dm.write tweet.read users.read offline.access", "refresh_token": refresh})
}

func (s *Server) userJSON(u *User) map[string]string {
	return map[string]string{"id": u.ID, "name": u.Name, "username": u.Username}
}

func (s *Server) me(w http.ResponseWriter, _ *http.Request, user string) {
	writeJSON(w, http.StatusOK, map[string]any{"data": s.userJSON(s.users[user])})
}

func notFoundUser(w http.ResponseWriter, param, value string) {
	writeJSON(w, http.StatusOK, map[string]any{"errors": []map[string]string{{
		"value": value, "detail": fmt.Sprintf("Could not find user with %s: [%s].", param, value),
		"title": "Not Found Error", "resource_type": "user", "parameter": param, "resource_id": value,
		"type": "https://api.twitter.com/2/problems/resource-not-found"}}})
}

func (s *Server) userByName(w http.ResponseWriter, r *http.Request, _ string) {
	name := strings.TrimPrefix(r.URL.Path, "/2/users/by/username/")
	id, ok := s.byName[strings.ToLower(name)]
	if !ok {
		notFoundUser(w, "username", name)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": s.userJSON(s.users[id])})
}

func (s *Server) userByID(w http.ResponseWriter, r *http.Request, _ string) {
	id := strings.TrimPrefix(r.URL.Path, "/2/users/")
	if id == "" || strings.Trim(id, "0123456789") != "" {
		invalid(w, "id", id, "The `id` query parameter value ["+id+"] does not match ^[0-9]{1,19}$")
		return
	}
	u, ok := s.users[id]
	if !ok {
		notFoundUser(w, "id", id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": s.userJSON(u)})
}

// visible says whether user sees event ev: a member of its conversation,
// or the subject of a leave event.
func (s *Server) visible(ev Event, user string) bool {
	c := s.convs[ev.Conversation]
	return c != nil && (c.members[user] || slices.Contains(ev.ParticipantIDs, user))
}

var eventFields = []string{"id", "event_type", "text", "sender_id", "dm_conversation_id", "created_at",
	"participant_ids", "attachments", "referenced_tweets"}

func (s *Server) dmEvents(w http.ResponseWriter, r *http.Request, user string) {
	q := r.URL.Query()
	n := 100
	if v := q.Get("max_results"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > 100 {
			invalid(w, "max_results", v, "The `max_results` query parameter value ["+v+"] is not between 1 and 100")
			return
		}
		n = m
	}
	fields := map[string]bool{"id": true, "event_type": true, "text": true}
	if v := q.Get("dm_event.fields"); v != "" {
		for _, f := range strings.Split(v, ",") {
			if !slices.Contains(eventFields, f) {
				invalid(w, "dm_event.fields", f, "The query parameter [dm_event.fields] value ["+f+"] is not one of ["+
					strings.Join(eventFields, ",")+"]")
				return
			}
			fields[f] = true
		}
	}
	types := map[string]bool{}
	if v := q.Get("event_types"); v != "" {
		for _, t := range strings.Split(v, ",") {
			types[t] = true
		}
	}
	exp := map[string]bool{}
	if v := q.Get("expansions"); v != "" {
		for _, e := range strings.Split(v, ",") {
			exp[e] = true
		}
	}
	before := ""
	if tok := q.Get("pagination_token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || strings.Trim(string(b), "0123456789") != "" || len(b) == 0 {
			invalid(w, "pagination_token", tok, "The `pagination_token` query parameter value ["+tok+"] is not valid")
			return
		}
		before = string(b)
	}
	var page []Event
	more := false
	for i := len(s.events) - 1; i >= 0; i-- {
		ev := s.events[i]
		if before != "" && !later(before, ev.ID) {
			continue
		}
		if (len(types) > 0 && !types[ev.Type]) || !s.visible(ev, user) {
			continue
		}
		if len(page) == n {
			more = true
			break
		}
		page = append(page, ev)
	}
	data := make([]map[string]any, len(page))
	users, media := map[string]bool{}, map[string]bool{}
	for i, ev := range page {
		data[i] = s.eventJSON(ev, fields)
		if exp["sender_id"] && ev.SenderID != "" {
			users[ev.SenderID] = true
		}
		if exp["participant_ids"] {
			for _, p := range ev.ParticipantIDs {
				users[p] = true
			}
		}
		if exp["attachments.media_keys"] {
			for _, k := range ev.MediaKeys {
				media[k] = true
			}
		}
	}
	body := map[string]any{}
	if len(data) > 0 {
		body["data"] = data
	}
	inc := map[string]any{}
	if len(users) > 0 {
		var us []map[string]string
		for _, id := range sortedKeys(users) {
			if u := s.users[id]; u != nil {
				us = append(us, s.userJSON(u))
			}
		}
		inc["users"] = us
	}
	if len(media) > 0 {
		var ms []map[string]string
		for _, k := range sortedKeys(media) {
			if m, ok := s.media[k]; ok {
				ms = append(ms, map[string]string{"media_key": m.Key, "type": m.Type, "url": m.URL})
			}
		}
		inc["media"] = ms
	}
	if len(inc) > 0 {
		body["includes"] = inc
	}
	meta := map[string]any{"result_count": len(data)}
	if more {
		meta["next_token"] = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].ID))
	}
	body["meta"] = meta
	writeJSON(w, http.StatusOK, body)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Server) eventJSON(ev Event, fields map[string]bool) map[string]any {
	all := map[string]any{"id": ev.ID, "event_type": ev.Type, "dm_conversation_id": ev.Conversation,
		"created_at": ev.CreatedAt.Format("2006-01-02T15:04:05.000Z")}
	if ev.Type == "MessageCreate" {
		all["text"] = ev.Text
		all["sender_id"] = ev.SenderID
	}
	if len(ev.ParticipantIDs) > 0 {
		all["participant_ids"] = ev.ParticipantIDs
	}
	if len(ev.MediaKeys) > 0 {
		all["attachments"] = map[string]any{"media_keys": ev.MediaKeys}
	}
	out := map[string]any{}
	for k, v := range all {
		if fields[k] {
			out[k] = v
		}
	}
	return out
}

func (s *Server) send(w http.ResponseWriter, r *http.Request, user string) {
	mid := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2/dm_conversations/"), "/messages")
	var body struct {
		Text string `json:"text"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(raw, &body) != nil {
		invalid(w, "body", "", "The request body is not valid JSON")
		return
	}
	if body.Text == "" {
		invalid(w, "text", "", "The `text` field is required and must be at least 1 character")
		return
	}
	var c *conversation
	if to, ok := strings.CutPrefix(mid, "with/"); ok {
		if s.refusing[to] {
			problem(w, http.StatusForbidden, "Forbidden", "You are not allowed to send a Direct Message to this user.",
				"https://api.twitter.com/2/problems/dm-permissions", nil)
			return
		}
		if _, known := s.users[to]; !known || to == user {
			problem(w, http.StatusForbidden, "Forbidden", "You cannot send messages to this user.", "about:blank", nil)
			return
		}
		c = s.oneToOne(user, to)
	} else if c = s.convs[mid]; c == nil || !c.members[user] {
		problem(w, http.StatusForbidden, "Forbidden", "You are not a participant of this conversation.", "about:blank", nil)
		return
	}
	ev := s.add(Event{Type: "MessageCreate", Conversation: c.id, SenderID: user, Text: body.Text})
	s.sent = append(s.sent, ev)
	writeJSON(w, http.StatusCreated, map[string]any{"data": map[string]string{"dm_conversation_id": c.id, "dm_event_id": ev.ID}})
}
