package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/peertest"
)

// loopback lets a test's servers on 127.0.0.1 through, as an operator's
// allow list does.
var loopback = Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

func TestParseAllow(t *testing.T) {
	g, err := ParseAllow(" keys.Internal., 10.2.0.0/16 127.0.0.1,::1,relay_1.corp\t::ffff:192.168.1.1 ")
	if err != nil {
		t.Fatal(err)
	}
	wantPrefixes := "[10.2.0.0/16 127.0.0.1/32 ::1/128 192.168.1.1/32]"
	if got := fmt.Sprint(g.Allow); got != wantPrefixes {
		t.Errorf("prefixes %s, want %s", got, wantPrefixes)
	}
	if got := fmt.Sprint(g.AllowHosts); got != "[keys.internal relay_1.corp]" {
		t.Errorf("hosts %s", got)
	}
	if !g.HostAllowed("KEYS.internal.") || g.HostAllowed("internal") || g.HostAllowed("10.2.0.1") {
		t.Error("HostAllowed does not match exactly the names listed")
	}
	for _, bad := range []string{"http://x", "10.0.0.0/33", "a..b", "-a.b", "x/y"} {
		if _, err := ParseAllow(bad); err == nil {
			t.Errorf("ParseAllow(%q) accepted", bad)
		}
	}
	if g, err := ParseAllow(""); err != nil || len(g.Allow)+len(g.AllowHosts) != 0 {
		t.Errorf("empty list: %+v, %v", g, err)
	}
}

func TestLoadKeysLegacy(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		env      map[string]string
		allowAll bool
		warn     bool
		err      bool
	}{
		{map[string]string{}, false, false, false},
		{map[string]string{EnvAllow: "10.0.0.0/8"}, false, false, false},
		{map[string]string{EnvLegacyAllowPrivate: "true"}, true, true, false},
		{map[string]string{EnvLegacyAllowPrivate: "false"}, false, true, false},
		{map[string]string{EnvLegacyAllowPrivate: "maybe"}, false, false, true},
		{map[string]string{EnvAllow: "::/200"}, false, false, true},
	} {
		g, warn, err := LoadKeys(env(tc.env))
		if (err != nil) != tc.err || (warn != "") != tc.warn {
			t.Errorf("%v: warning %q, error %v", tc.env, warn, err)
		}
		if got := g.Allowed(netip.MustParseAddr("127.0.0.1")) && g.Allowed(netip.MustParseAddr("fd00::1")); got != tc.allowAll {
			t.Errorf("%v: loopback and unique-local allowed %v, want %v", tc.env, got, tc.allowAll)
		}
	}
}

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"93.184.215.14", true}, {"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true},
		{"127.0.0.1", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"fc00::1", false}, {"224.0.0.1", false}, {"ff02::1", false},
		{"0.0.0.0", false}, {"::", false}, {"100.64.0.1", false}, {"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false},
		{"198.18.0.1", false}, {"255.255.255.255", false}, {"64:ff9b::7f00:1", false},
	} {
		if got := (Guard{}).Allowed(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Allowed(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	g := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	if !g.Allowed(netip.MustParseAddr("127.0.0.2")) || g.Allowed(netip.MustParseAddr("127.0.0.1")) {
		t.Error("Allow does not allow exactly its range")
	}
}

// serve starts a server on addr (a loopback address) answering with h.
func serve(t *testing.T, addr string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		peertest.Missing(t, "listen %s: %v (a loopback address beyond 127.0.0.1)", addr, err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s.URL
}

func TestClientRefusesLoopback(t *testing.T) {
	ok := serve(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) }))
	ctx := context.Background()
	_, _, err := Get(ctx, (Guard{}).Client(ClientConfig{Timeout: 5 * time.Second}), ok, 100)
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("GET 127.0.0.1 by default: %v, want ErrForbidden", err)
	}
	// A name resolving to loopback is refused after resolution.
	_, _, err = Get(ctx, (Guard{}).Client(ClientConfig{Timeout: 5 * time.Second}), strings.Replace(ok, "127.0.0.1", "localhost", 1), 100)
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("GET localhost by default: %v, want ErrForbidden", err)
	}
	body, _, err := Get(ctx, loopback.Client(ClientConfig{Timeout: 5 * time.Second}), ok, 100)
	if err != nil || string(body) != "hi" {
		t.Errorf("GET with 127.0.0.1 allowed = %q, %v", body, err)
	}
	// A host name the operator allows is dialled whatever it resolves to.
	byName := Guard{AllowHosts: []string{"localhost"}}
	body, _, err = Get(ctx, byName.Client(ClientConfig{Timeout: 5 * time.Second}), strings.Replace(ok, "127.0.0.1", "LocalHost", 1), 100)
	if err != nil || string(body) != "hi" {
		t.Errorf("GET localhost with localhost allowed = %q, %v", body, err)
	}
	if _, _, err = Get(ctx, byName.Client(ClientConfig{Timeout: 5 * time.Second}), ok, 100); !errors.Is(err, ErrForbidden) {
		t.Errorf("GET 127.0.0.1 with only the name localhost allowed: %v, want ErrForbidden", err)
	}
}

func TestClientChecksRedirects(t *testing.T) {
	target := serve(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) }))
	var hops int
	var front string
	front = serve(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-loopback":
			http.Redirect(w, r, target, http.StatusFound)
		case "/loop":
			hops++
			http.Redirect(w, r, front+"/loop", http.StatusFound)
		}
	}))
	g := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	c := g.Client(ClientConfig{Timeout: 5 * time.Second, MaxRedirects: 3})
	if _, _, err := Get(context.Background(), c, front+"/to-loopback", 100); !errors.Is(err, ErrForbidden) {
		t.Errorf("redirect to 127.0.0.1: %v, want ErrForbidden", err)
	}
	if _, _, err := Get(context.Background(), c, front+"/loop", 100); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("redirect loop: %v", err)
	}
	if hops != 4 {
		t.Errorf("followed %d requests of a redirect loop, want 4 (3 redirects)", hops)
	}
}

func TestGetBoundsBody(t *testing.T) {
	big := strings.Repeat("x", 1000)
	url := serve(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length
		}
		_, _ = w.Write([]byte(big))
	}))
	c := loopback.Client(ClientConfig{Timeout: 5 * time.Second})
	for _, path := range []string{"/", "/chunked"} {
		if _, _, err := Get(context.Background(), c, url+path, 999); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: 1000 bytes with a bound of 999: %v", path, err)
		}
		if b, _, err := Get(context.Background(), c, url+path, 1000); err != nil || len(b) != 1000 {
			t.Errorf("%s: 1000 bytes with a bound of 1000: %d, %v", path, len(b), err)
		}
	}
}

// BenchmarkControl: the guard's check of one dialled address.
func BenchmarkControl(b *testing.B) {
	g := MustParseAllow("10.2.0.0/16, keys.internal")
	for b.Loop() {
		if err := g.Control("tcp4", "93.184.215.14:25", nil); err != nil {
			b.Fatal(err)
		}
	}
}
