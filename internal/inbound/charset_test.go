package inbound

import (
	"context"
	"strings"
	"testing"
)

func TestWithStatedDefault(t *testing.T) {
	tests := []struct {
		name, raw string
		added     bool
	}{
		{"7-bit without Content-Type", "From: a@x\r\nSubject: hi\r\n\r\nhello\r\n", true},
		{"LF line endings", "From: a@x\nSubject: hi\n\nhello\n", true},
		{"Content-Type present", "From: a@x\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n", false},
		{"lowercase content-type", "from: a@x\ncontent-type: text/plain; charset=latin1\n\nhi\n", false},
		{"8-bit body", "From: a@x\n\ncaf\xe9\n", false},
		{"header only", "From: a@x\r\nSubject: hi\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(withStatedDefault([]byte(tt.raw)))
			if added := got != tt.raw; added != tt.added {
				t.Fatalf("withStatedDefault(%q) = %q, added %v, want %v", tt.raw, got, added, tt.added)
			}
			if tt.added && (!strings.HasSuffix(got, tt.raw) || !strings.HasPrefix(got, "Content-Type: text/plain; charset=utf-8")) {
				t.Errorf("withStatedDefault(%q) = %q", tt.raw, got)
			}
		})
	}
	// The stated header changes nothing else that Parse reads.
	raw := "From: a@x\r\nTo: b@y\r\nSubject: plain\r\n\r\n" + strings.Repeat("plain ascii text ", 50) + "\r\n"
	p, err := Parse(context.Background(), []byte(raw), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "plain" || strings.TrimSpace(p.BodyPlain) != strings.TrimSpace(strings.Repeat("plain ascii text ", 50)) || len(p.Participants) != 2 {
		t.Errorf("Parse = subject %q, %d participants, body %q", p.Subject, len(p.Participants), p.BodyPlain)
	}
}
