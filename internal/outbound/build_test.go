package outbound_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedDate is the Date of golden messages.
var fixedDate = time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)

// draft is a draft with every header the builder writes.
func draft() store.Message {
	return store.Message{ID: "5f0c2a8e-8d1e-4a53-9b55-3c1f1a0e7d21", UserID: "u1", Subject: "Héllo, outbound",
		Participants: []store.Participant{
			{Type: "From", Address: "alice@caliopen.test", Label: "Alice Éclair"},
			{Type: "To", Address: "bob@example.org", Label: "Bob"},
			{Type: "To", Address: "carol@example.org"},
			{Type: "Cc", Address: "dave@example.net", Label: "Dave"},
			{Type: "Bcc", Address: "eve@example.com", Label: "Eve"},
			{Type: "Bcc", Address: "BOB@example.org"},
		},
		BodyPlain: "Hello Bob,\nthis line is long enough to need a soft line break in quoted-printable encoding, café.\n",
		External:  store.ExternalRefs{InReplyTo: "parent@example.org", References: []string{"root@example.org", "<parent@example.org>"}},
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/outbound -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the built message (go test ./internal/outbound -update rewrites it):\n%s", path, got)
	}
}

func build(t testing.TB, m store.Message, blobs *dirblob.Store) outbound.Built {
	t.Helper()
	if blobs == nil {
		var err error
		if blobs, err = dirblob.New(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	b, err := outbound.Build(context.Background(), outbound.Input{Message: m, Date: fixedDate}, blobs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildPlainGolden(t *testing.T) {
	b := build(t, draft(), nil)
	golden(t, "plain.eml", b.Raw)
	if b.MessageID != outbound.MessageID(draft().ID, "caliopen.test") || b.From != "alice@caliopen.test" {
		t.Errorf("message id %q from %q", b.MessageID, b.From)
	}
	want := "bob@example.org carol@example.org dave@example.net eve@example.com"
	if got := strings.Join(b.Recipients, " "); got != want {
		t.Errorf("recipients %q, want %q (Bcc in the envelope, each address once)", got, want)
	}
	checkParses(t, b.Raw)
	if bytes.Contains(b.Raw, []byte("eve@")) || bytes.Contains(bytes.ToLower(b.Raw), []byte("\nbcc:")) {
		t.Error("Bcc leaked into the message")
	}
}

func TestBuildAlternativeWithAttachmentsGolden(t *testing.T) {
	blobs, err := dirblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := bytes.Repeat([]byte("attachment bytes\n"), 10)
	if err := blobs.Put(ctx, "att/one", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	m := draft()
	m.BodyHTML = "<p>Hello <b>Bob</b></p>"
	m.Attachments = []store.Attachment{
		{ContentType: "text/plain", FileName: "notes été.txt", Size: int64(len(data)), BlobKey: "att/one"},
		{ContentType: "image/png", FileName: "pic.png", IsInline: true, BlobKey: "att/one"},
	}
	b := build(t, m, blobs)
	golden(t, "mixed.eml", b.Raw)
	checkParses(t, b.Raw)

	m.Attachments = []store.Attachment{{FileName: "gone", BlobKey: "att/missing"}}
	_, err = outbound.Build(ctx, outbound.Input{Message: m, Date: fixedDate}, blobs)
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing attachment: %v", err)
	}
}

func TestBuildPGPGolden(t *testing.T) {
	m := draft()
	m.BodyPlain = "-----BEGIN PGP MESSAGE-----\n\nhQEMA0123456789ABCDEF\n=abcd\n-----END PGP MESSAGE-----\n"
	m.BodyHTML = "<p>ignored</p>"
	b := build(t, m, nil)
	golden(t, "pgp.eml", b.Raw)
	checkParses(t, b.Raw)
	if !bytes.Contains(b.Raw, []byte(`multipart/encrypted; protocol="application/pgp-encrypted"`)) {
		t.Error("not PGP/MIME")
	}
}

func TestBuildRefusesBadDrafts(t *testing.T) {
	for name, ps := range map[string][]store.Participant{
		"no sender":    {{Type: "To", Address: "b@example.org"}},
		"no recipient": {{Type: "From", Address: "a@example.org"}},
		"bad address":  {{Type: "From", Address: "a@example.org"}, {Type: "To", Address: "not an address"}},
	} {
		m := draft()
		m.Participants = ps
		_, err := outbound.Build(context.Background(), outbound.Input{Message: m}, nil)
		if !errors.Is(err, outbound.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// checkParses reads raw back with net/mail.
func checkParses(t *testing.T, raw []byte) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("built message does not parse: %v", err)
	}
	if _, err := msg.Header.AddressList("To"); err != nil {
		t.Errorf("To: %v", err)
	}
	if d, err := msg.Header.Date(); err != nil || !d.Equal(fixedDate) {
		t.Errorf("Date %v %v", d, err)
	}
}
