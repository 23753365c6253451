package mastoapi

import (
	"net/http"
	"testing"
	"time"
)

func TestNextMaxID(t *testing.T) {
	for _, tc := range []struct{ link, want string }{
		{`<https://x.example/api/v1/conversations?limit=40&max_id=01FC0SKA48>; rel="next", <https://x.example/api/v1/conversations?limit=40&min_id=01FC0SKW5J>; rel="prev"`, "01FC0SKA48"},
		{`<https://x.example/api/v1/conversations?min_id=9>; rel="prev"`, ""},
		{"", ""},
		{"garbage", ""},
	} {
		if got := nextMaxID(tc.link); got != tc.want {
			t.Errorf("nextMaxID(%q) = %q, want %q", tc.link, got, tc.want)
		}
	}
}

func TestRate(t *testing.T) {
	c := &Client{now: time.Now}
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "300")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", "2026-12-08T00:05:00.123Z")
	if r := c.rate(h); !r.Known || r.Limit != 300 || r.Remaining != 0 || !r.Reset.Equal(time.Date(2026, 12, 8, 0, 5, 0, 123e6, time.UTC)) {
		t.Errorf("ISO 8601 reset: %+v", r)
	}
	h.Set("X-RateLimit-Reset", "1700000000")
	if r := c.rate(h); !r.Known || r.Reset.Unix() != 1700000000 {
		t.Errorf("Unix reset: %+v", r)
	}
	h.Del("X-RateLimit-Remaining")
	if r := c.rate(h); r.Known {
		t.Errorf("incomplete headers read as %+v", r)
	}
}

func TestLater(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"10", "9", true}, {"9", "10", false}, {"01M99FYCZS", "01M99FXE76", true}, {"5", "5", false}} {
		if got := Later(tc.a, tc.b); got != tc.want {
			t.Errorf("Later(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestParseInstanceAndAddress(t *testing.T) {
	for in, ok := range map[string]bool{"https://social.example/": true, "http://127.0.0.1:8080": true, "ftp://x": false,
		"https://u:p@x.example": false, "https://x.example/?a=b": false, "social.example": false} {
		if _, err := ParseInstance(in); (err == nil) != ok {
			t.Errorf("ParseInstance(%q) = %v", in, err)
		}
	}
	if a := Address("Bob", "https://Social.Example/@Bob"); a != "bob@social.example" {
		t.Errorf("local address %q", a)
	}
	if a := Address("@carol@c.example", ""); a != "carol@c.example" {
		t.Errorf("remote address %q", a)
	}
}
