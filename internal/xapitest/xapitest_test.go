package xapitest

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reference is testdata/reference.json: example requests and answers of
// the public X API v2 reference.
type reference struct {
	DMEvents struct {
		Request  string         `json:"request"`
		Response map[string]any `json:"response"`
	} `json:"dm_events"`
	Send struct {
		Request  string         `json:"request"`
		Body     map[string]any `json:"body"`
		Status   int            `json:"status"`
		Response map[string]any `json:"response"`
	} `json:"send"`
	RateLimitHeaders map[string]string `json:"rate_limit_headers"`
	DMLookupLimit    int               `json:"dm_lookup_limit_per_user_15min"`
	Unauthorized     map[string]any    `json:"unauthorized"`
	TooMany          map[string]any    `json:"too_many_requests"`
	UserNotFound     map[string]any    `json:"user_not_found"`
	OAuth1           struct {
		Method         string      `json:"method"`
		URL            string      `json:"url"`
		Params         [][2]string `json:"params"`
		ConsumerSecret string      `json:"consumer_secret"`
		TokenSecret    string      `json:"token_secret"`
		Signature      string      `json:"signature"`
	} `json:"oauth1_signature"`
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// fixture is a server with alice (the authenticated user, bearer token
// "tok") and bob.
func fixture(t *testing.T) *Server {
	s := New()
	t.Cleanup(s.Close)
	s.AddUser("100", "alice", "Alice")
	s.AddUser("200", "bob", "Bob")
	s.AddBearer("tok", "100", time.Time{})
	return s
}

func call(t *testing.T, s *Server, method, path, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return resp, out
}

// keys returns the sorted keys of a JSON object.
func keys(v any) []string {
	m, _ := v.(map[string]any)
	return slices.Sorted(maps.Keys(m))
}

func TestReferenceDMEvents(t *testing.T) {
	ref := loadReference(t)
	s := fixture(t)
	s.Message("200", "100", "Hello! How are you?")
	resp, got := call(t, s, http.MethodGet, ref.DMEvents.Request, "tok", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := ref.DMEvents.Response
	wantEvent := want["data"].([]any)[0]
	data, _ := got["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("data %v", got)
	}
	if !slices.Equal(keys(data[0]), keys(wantEvent)) {
		t.Errorf("event fields %v, the reference's %v", keys(data[0]), keys(wantEvent))
	}
	ev := data[0].(map[string]any)
	if _, err := time.Parse(time.RFC3339, ev["created_at"].(string)); err != nil || ev["event_type"] != "MessageCreate" ||
		ev["sender_id"] != "200" {
		t.Errorf("event %v", ev)
	}
	// The reference's meta has next_token when more pages follow.
	s.Message("100", "200", "fine")
	_, got = call(t, s, http.MethodGet, "/2/dm_events?max_results=1", "tok", nil)
	if !slices.Equal(keys(got["meta"]), keys(want["meta"])) {
		t.Errorf("meta %v, the reference's %v", keys(got["meta"]), keys(want["meta"]))
	}
	// Default fields are id, event_type and text.
	_, got = call(t, s, http.MethodGet, "/2/dm_events", "tok", nil)
	if k := keys(got["data"].([]any)[0]); !slices.Equal(k, []string{"event_type", "id", "text"}) {
		t.Errorf("default fields %v", k)
	}
}

func TestReferenceSend(t *testing.T) {
	ref := loadReference(t)
	s := fixture(t)
	path := strings.Replace(ref.Send.Request, "{participant_id}", "200", 1)
	resp, got := call(t, s, http.MethodPost, path, "tok", ref.Send.Body)
	if resp.StatusCode != ref.Send.Status {
		t.Fatalf("status %d, the reference's %d", resp.StatusCode, ref.Send.Status)
	}
	if !slices.Equal(keys(got["data"]), keys(ref.Send.Response["data"])) {
		t.Errorf("data %v, the reference's %v", got["data"], ref.Send.Response["data"])
	}
	if conv := got["data"].(map[string]any)["dm_conversation_id"]; conv != "100-200" {
		t.Errorf("one-to-one conversation id %v, want <low>-<high>", conv)
	}
}

func TestReferenceErrorsAndLimits(t *testing.T) {
	ref := loadReference(t)
	s := fixture(t)
	now := time.Unix(1_705_420_000, 0)
	s.SetNow(func() time.Time { return now })
	resp, got := call(t, s, http.MethodGet, "/2/users/me", "wrong", nil)
	if resp.StatusCode != 401 || !maps.Equal(got, ref.Unauthorized) {
		t.Errorf("bad token: %d %v, the reference's %v", resp.StatusCode, got, ref.Unauthorized)
	}
	resp, got = call(t, s, http.MethodGet, "/2/users/by/username/nobody_here", "tok", nil)
	b1, _ := json.Marshal(got)
	b2, _ := json.Marshal(ref.UserNotFound)
	if resp.StatusCode != 200 || string(b1) != string(b2) {
		t.Errorf("unknown user: %d %s, the reference's %s", resp.StatusCode, b1, b2)
	}
	if s.limits[GroupDMLookup] != ref.DMLookupLimit {
		t.Errorf("dm lookup limit %d, the reference's %d", s.limits[GroupDMLookup], ref.DMLookupLimit)
	}
	s.SetLimit(GroupDMLookup, 2)
	for i := range 3 {
		resp, got = call(t, s, http.MethodGet, "/2/dm_events", "tok", nil)
		for h := range ref.RateLimitHeaders {
			if _, err := strconv.ParseInt(resp.Header.Get(h), 10, 64); err != nil {
				t.Errorf("request %d: header %s = %q", i, h, resp.Header.Get(h))
			}
		}
	}
	if resp.StatusCode != 429 || !maps.Equal(got, ref.TooMany) {
		t.Errorf("third request: %d %v, the reference's %v", resp.StatusCode, got, ref.TooMany)
	}
	if reset := resp.Header.Get("x-rate-limit-reset"); reset != strconv.FormatInt(now.Add(Window).Unix(), 10) {
		t.Errorf("reset %s", reset)
	}
	now = now.Add(Window)
	if resp, _ = call(t, s, http.MethodGet, "/2/dm_events", "tok", nil); resp.StatusCode != 200 {
		t.Errorf("after the window: %d", resp.StatusCode)
	}
	if n := s.Requests()[GroupDMLookup]; n != 4 {
		t.Errorf("counted %d dm lookups, want 4", n)
	}
}

// TestReferenceOAuth1Signature checks the server's verifier against the
// reference's worked example.
func TestReferenceOAuth1Signature(t *testing.T) {
	ref := loadReference(t).OAuth1
	got := Signature(ref.Method, ref.URL, ref.Params, ref.ConsumerSecret, ref.TokenSecret)
	if got != ref.Signature {
		t.Errorf("signature %s, the reference's %s", got, ref.Signature)
	}
}

func TestPagingAndGroups(t *testing.T) {
	s := fixture(t)
	s.AddUser("300", "carol", "Carol")
	g := s.Group("100", "200", "300")
	for i := range 5 {
		s.GroupMessage(g, "300", "g"+strconv.Itoa(i))
		s.Message("200", "100", "d"+strconv.Itoa(i))
	}
	s.Message("200", "300", "not for alice")
	var ids []string
	path := "/2/dm_events?max_results=4&dm_event.fields=dm_conversation_id,sender_id,participant_ids&expansions=sender_id,participant_ids"
	next := ""
	for {
		p := path
		if next != "" {
			p += "&pagination_token=" + next
		}
		_, got := call(t, s, http.MethodGet, p, "tok", nil)
		for _, e := range got["data"].([]any) {
			ids = append(ids, e.(map[string]any)["id"].(string))
		}
		if len(ids) == 4 {
			s.Message("200", "100", "while paging") // newer: not in the next pages
		}
		tok, _ := got["meta"].(map[string]any)["next_token"].(string)
		if tok == "" {
			break
		}
		next = tok
	}
	if len(ids) != 11 { // join + 10 messages
		t.Fatalf("paged %d events, want 11", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if !later(ids[i-1], ids[i]) {
			t.Fatalf("not newest first: %v", ids)
		}
	}
	resp, _ := call(t, s, http.MethodPost, "/2/dm_conversations/"+g+"/messages", "tok", map[string]string{"text": "hi all"})
	if resp.StatusCode != 201 {
		t.Errorf("group send: %d", resp.StatusCode)
	}
	s.Leave(g, "100")
	if resp, _ := call(t, s, http.MethodPost, "/2/dm_conversations/"+g+"/messages", "tok", map[string]string{"text": "x"}); resp.StatusCode != 403 {
		t.Errorf("send after leaving: %d", resp.StatusCode)
	}
	if resp, _ := call(t, s, http.MethodGet, "/2/dm_events?max_results=101", "tok", nil); resp.StatusCode != 400 {
		t.Errorf("max_results 101: %d", resp.StatusCode)
	}
}
