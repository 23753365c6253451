package main

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/accounts"
)

// TestHostileClients drives the running local system as an attacker would,
// over its real listener and limits: a password flood is throttled with
// Retry-After before any bcrypt work, and a POST body trickled slower than
// the body idle timeout loses its connection instead of holding it.
func TestHostileClients(t *testing.T) {
	api, _ := localSystem(t)
	var throttled, refused int
	flood := time.Now()
	for i := range 200 {
		req, _ := http.NewRequest("POST", api+"/authentications",
			strings.NewReader(`{"username":"admin","password":"guess-`+strconv.Itoa(i)+`"}`))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusUnauthorized:
			refused++
		case http.StatusTooManyRequests:
			throttled++
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("guess %d: %d", i, res.StatusCode)
		}
	}
	// The address's burst, plus one guess back per refill period the flood
	// lasted (a slow machine with the race detector takes most of a minute).
	allowed := accounts.DefaultAddressBurst + int(time.Since(flood)/accounts.DefaultAddressEvery)
	if refused > allowed || throttled < 200-allowed {
		t.Errorf("%d guesses evaluated, %d throttled; want at most %d evaluated", refused, throttled, allowed)
	}

	host := strings.TrimPrefix(api, "http://")
	host = host[:strings.Index(host, "/")]
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "POST /function/api/api/v2/authentications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		io.Copy(io.Discard, c) // the server's answer, then its close
	}()
	for {
		select {
		case <-closed:
			if d := time.Since(start); d > 12*time.Second {
				t.Errorf("connection held for %s", d)
			}
			return
		case <-time.After(12 * time.Second): // the attacker's byte every 12 s
			if time.Since(start) > 30*time.Second {
				t.Fatal("the trickled body still holds its connection after 30 s")
			}
			c.Write([]byte(" "))
		}
	}
}
