package connector

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestInProcess(t *testing.T) {
	t.Parallel()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tcp") }))
	defer other.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(time.Second)
		case "/panic":
			panic("boom")
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Header.Get("X-In"))
		w.WriteHeader(http.StatusAccepted)
		w.Write(append([]byte("echo:"), body...))
	})
	client := &http.Client{Transport: &InProcess{Host: "gw.local:8080", Handler: h}}

	req, _ := http.NewRequest("POST", "http://gw.local:8080/function/x", strings.NewReader("hi"))
	req.Header.Set("X-In", "v")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 202 || string(body) != "echo:hi" || res.Header.Get("X-Seen") != "v" {
		t.Errorf("got %d %q %v", res.StatusCode, body, res.Header)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "POST", "http://gw.local:8080/slow", nil)
	start := time.Now()
	if _, err := client.Do(req); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 500*time.Millisecond {
		t.Errorf("slow handler: err %v after %s, want the deadline", err, time.Since(start))
	}

	req, _ = http.NewRequest("POST", "http://gw.local:8080/panic", nil)
	if _, err := client.Do(req); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("panic: err %v", err)
	}

	res, err = client.Get(other.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	if string(body) != "tcp" {
		t.Errorf("other host answered %q", body)
	}
}
