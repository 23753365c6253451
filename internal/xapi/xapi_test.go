package xapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/xapi"
	"github.com/caliopen/functions/internal/xapitest"
)

func server(t *testing.T) *xapitest.Server {
	s := xapitest.New()
	t.Cleanup(s.Close)
	s.AddUser("100", "alice", "Alice")
	s.AddUser("200", "bob", "Bob")
	s.AddBearer("tok", "100", time.Time{})
	return s
}

func bearerClient(t *testing.T, s *xapitest.Server, token string) *xapi.Client {
	t.Helper()
	hc, _ := xapi.OAuth2Client(context.Background(), &oauth2.Token{AccessToken: token}, nil, nil)
	c, err := xapi.New(xapi.Config{BaseURL: s.URL, HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUsersAndAuth(t *testing.T) {
	s := server(t)
	ctx := context.Background()
	c := bearerClient(t, s, "tok")
	me, rate, err := c.Me(ctx)
	if err != nil || me.ID != "100" || me.Username != "alice" || !rate.Known || rate.Limit != 75 {
		t.Fatalf("me %+v rate %+v err %v", me, rate, err)
	}
	if u, _, err := c.UserByUsername(ctx, "@Bob"); err != nil || u.ID != "200" {
		t.Errorf("by username %+v %v", u, err)
	}
	if u, _, err := c.UserByID(ctx, "200"); err != nil || u.Username != "bob" {
		t.Errorf("by id %+v %v", u, err)
	}
	_, _, err = c.UserByUsername(ctx, "nobody")
	if !xapi.IsNotFound(err) || !faults.IsPermanent(err) {
		t.Errorf("unknown user: %v (class %s)", err, faults.ClassOf(err))
	}
	if _, _, err := c.UserByUsername(ctx, "not a name"); !faults.IsPermanent(err) {
		t.Errorf("bad username: %v", err)
	}
	_, _, err = bearerClient(t, s, "wrong").Me(ctx)
	if !xapi.IsAuth(err) || !faults.IsPermanent(err) || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("bad token: %v", err)
	}
}

func TestOAuth1(t *testing.T) {
	s := server(t)
	s.AddOAuth1("ckey", "csecret", "100-atok", "asecret", "100")
	ctx := context.Background()
	for _, tc := range []struct {
		secret string
		ok     bool
	}{{"asecret", true}, {"other", false}} {
		hc := xapi.OAuth1Client(ctx, "ckey", "csecret", "100-atok", tc.secret, nil)
		c, _ := xapi.New(xapi.Config{BaseURL: s.URL, HTTP: hc})
		me, _, err := c.Me(ctx)
		if tc.ok && (err != nil || me.ID != "100") {
			t.Errorf("signed with the right secret: %+v %v", me, err)
		}
		if !tc.ok && !xapi.IsAuth(err) {
			t.Errorf("signed with a wrong secret: %v", err)
		}
		// A query string is part of what is signed.
		if _, err := c.DMEvents(ctx, xapi.EventsQuery{MaxResults: 5}); (err == nil) != tc.ok {
			t.Errorf("dm events (ok %v): %v", tc.ok, err)
		}
	}
}

func TestOAuth2Refresh(t *testing.T) {
	s := server(t)
	s.AddBearer("old", "100", time.Now().Add(-time.Minute)) // expired at the server
	s.AddOAuth2Client("cid", "csecret", "r1", "100")
	ctx := context.Background()
	tok := &oauth2.Token{AccessToken: "old", RefreshToken: "r1", Expiry: time.Now().Add(-time.Second)}
	hc, src := xapi.OAuth2Client(ctx, tok, &xapi.OAuth2App{ClientID: "cid", ClientSecret: "csecret",
		TokenURL: s.URL + xapi.TokenPath}, nil)
	c, _ := xapi.New(xapi.Config{BaseURL: s.URL, HTTP: hc})
	if me, _, err := c.Me(ctx); err != nil || me.ID != "100" {
		t.Fatalf("me after refresh: %+v %v", me, err)
	}
	got, err := src.Token()
	if err != nil || got.AccessToken == "old" || got.RefreshToken == "r1" || got.RefreshToken == "" {
		t.Errorf("renewed token %+v %v", got, err)
	}
	// The refresh token was rotated: the old one is refused.
	tok2 := &oauth2.Token{AccessToken: "old", RefreshToken: "r1", Expiry: time.Now().Add(-time.Second)}
	hc2, _ := xapi.OAuth2Client(ctx, tok2, &xapi.OAuth2App{ClientID: "cid", ClientSecret: "csecret",
		TokenURL: s.URL + xapi.TokenPath}, nil)
	c2, _ := xapi.New(xapi.Config{BaseURL: s.URL, HTTP: hc2})
	if _, _, err := c2.Me(ctx); err == nil {
		t.Error("a used refresh token renewed again")
	}
}

func TestEventsPagingAndSend(t *testing.T) {
	s := server(t)
	s.AddUser("300", "carol", "Carol")
	s.AddMedia("3_1", "photo", "https://pbs.example/1.jpg")
	ctx := context.Background()
	c := bearerClient(t, s, "tok")
	g := s.Group("300", "100", "200")
	s.Message("200", "100", "with a photo", "3_1")
	for range 7 {
		s.GroupMessage(g, "200", "hello group")
	}
	var all []xapi.Event
	q := xapi.EventsQuery{MaxResults: 3}
	users := map[string]string{}
	for {
		p, err := c.DMEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Events...)
		for _, u := range p.Includes.Users {
			users[u.ID] = u.Username
		}
		if p.NextToken == "" {
			break
		}
		q.PaginationToken = p.NextToken
	}
	if len(all) != 9 || all[len(all)-1].EventType != xapi.ParticipantsJoin || len(all[len(all)-1].ParticipantIDs) != 3 {
		t.Fatalf("events %+v", all)
	}
	photo := all[7]
	if photo.Attachments == nil || photo.Attachments.MediaKeys[0] != "3_1" || photo.DMConversationID != "100-200" {
		t.Errorf("photo event %+v", photo)
	}
	if users["300"] != "carol" || users["200"] != "bob" {
		t.Errorf("expanded users %v", users)
	}
	sent, _, err := c.SendToUser(ctx, "200", "hi bob")
	if err != nil || sent.DMConversationID != "100-200" || sent.DMEventID == "" {
		t.Errorf("send to user: %+v %v", sent, err)
	}
	if sent, _, err = c.SendToConversation(ctx, g, "hi all"); err != nil || sent.DMConversationID != g {
		t.Errorf("send to group: %+v %v", sent, err)
	}
	if _, _, err := c.SendToUser(ctx, "999", "x"); !faults.IsPermanent(err) {
		t.Errorf("send to unknown: %v", err)
	}
	if _, _, err := c.SendToUser(ctx, "200", " "); !faults.IsPermanent(err) {
		t.Errorf("empty text: %v", err)
	}
	if n := len(s.Sent()); n != 2 {
		t.Errorf("server got %d messages, want 2", n)
	}
}

func TestRateLimitAndFailures(t *testing.T) {
	s := server(t)
	now := time.Unix(1_800_000_000, 0)
	s.SetNow(func() time.Time { return now })
	s.SetLimit(xapitest.GroupDMLookup, 1)
	ctx := context.Background()
	c := bearerClient(t, s, "tok")
	p, err := c.DMEvents(ctx, xapi.EventsQuery{})
	if err != nil || p.Rate.Remaining != 0 || !p.Rate.Reset.Equal(now.Add(xapitest.Window)) {
		t.Fatalf("first page rate %+v err %v", p.Rate, err)
	}
	_, err = c.DMEvents(ctx, xapi.EventsQuery{})
	reset, limited := xapi.RateLimited(err)
	if !limited || !reset.Equal(now.Add(xapitest.Window)) || faults.ClassOf(err) != faults.Throttled {
		t.Errorf("429: %v reset %v class %s", err, reset, faults.ClassOf(err))
	}
	s.Fail(xapitest.GroupMe, http.StatusServiceUnavailable, 1)
	if _, _, err := c.Me(ctx); faults.ClassOf(err) != faults.Temporary || xapi.IsAuth(err) {
		t.Errorf("503: %v", err)
	}
	if _, _, err := c.Me(ctx); err != nil {
		t.Errorf("after the failure: %v", err)
	}
}

func TestBoundedAnswer(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":{"id":"1","username":"` + strings.Repeat("a", 5000) + `"}}`))
	}))
	defer big.Close()
	c, _ := xapi.New(xapi.Config{BaseURL: big.URL, HTTP: big.Client(), MaxBody: 1024})
	if _, _, err := c.Me(context.Background()); err == nil || !strings.Contains(err.Error(), "over 1024 bytes") {
		t.Errorf("oversized answer: %v", err)
	}
	if _, err := xapi.New(xapi.Config{BaseURL: "ftp://x", HTTP: big.Client()}); err == nil {
		t.Error("ftp base URL accepted")
	}
}

func TestLater(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"10", "9", true}, {"9", "10", false}, {"1700000000000000002", "1700000000000000001", true}, {"5", "5", false}} {
		if got := xapi.Later(tc.a, tc.b); got != tc.want {
			t.Errorf("Later(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestForbiddenIsNotAuth(t *testing.T) {
	s := server(t)
	c := bearerClient(t, s, "tok")
	g := s.Group("200", "100")
	s.Leave(g, "100")
	_, _, err := c.SendToConversation(context.Background(), g, "hello?")
	if err == nil || xapi.IsAuth(err) || !faults.IsPermanent(err) || !strings.Contains(err.Error(), "403") {
		t.Errorf("send to a conversation left: %v", err)
	}
}
