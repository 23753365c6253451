package inbound

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func readMail(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseOwnMails(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, p Parsed)
	}{
		{"own/multipart-alternative.eml", func(t *testing.T, p Parsed) {
			if p.Subject != "Réunion de l'équipe café" {
				t.Errorf("subject %q", p.Subject)
			}
			if !strings.Contains(p.BodyPlain, "Bonjour à tous") || !strings.Contains(p.BodyHTML, "<p>") {
				t.Errorf("bodies %q / %q", p.BodyPlain, p.BodyHTML)
			}
			if len(p.Participants) != 4 || p.Participants[0].Address != "elodie@example.org" ||
				p.Participants[0].Label != "Élodie Dupont" || p.Participants[0].Type != "From" {
				t.Errorf("participants %+v", p.Participants)
			}
			if p.External.MessageID != "alt-1@example.org" {
				t.Errorf("message id %q", p.External.MessageID)
			}
			if p.Features[FeatureIngressTLS] != "tls1.3" || p.Features[FeatureTransportSigned] != "true" {
				t.Errorf("features %v", p.Features)
			}
			if p.PI.Technic != 20 || p.PI.Context != 10 {
				t.Errorf("pi %+v", p.PI)
			}
			if p.Date.IsZero() {
				t.Error("no date")
			}
		}},
		{"own/attachments.eml", func(t *testing.T, p Parsed) {
			if len(p.Attachments) != 2 {
				t.Fatalf("attachments %+v", p.Attachments)
			}
			a, b := p.Attachments[0], p.Attachments[1]
			if a.FileName != "report.pdf" || a.ContentType != "application/pdf" || a.IsInline || a.Size == 0 || a.MIMEBoundary != "m1" {
				t.Errorf("first %+v", a)
			}
			if b.FileName != "logo.png" || !b.IsInline {
				t.Errorf("second %+v", b)
			}
			if p.External.InReplyTo != "alt-1@example.org" ||
				!slices.Equal(p.External.References, []string{"root@example.org", "alt-1@example.org"}) {
				t.Errorf("refs %+v", p.External)
			}
		}},
		{"own/pgp-mime.eml", func(t *testing.T, p Parsed) {
			if !p.Encrypted || p.Features[FeatureEncrypted] != "true" || p.PI.Technic != 30 {
				t.Errorf("encrypted %v %v %+v", p.Encrypted, p.Features, p.PI)
			}
			for _, a := range p.Attachments {
				if a.ContentType == "application/pgp-encrypted" {
					t.Errorf("control part listed: %+v", a)
				}
			}
		}},
		{"own/inline-pgp.eml", func(t *testing.T, p Parsed) {
			if !p.Encrypted {
				t.Error("inline PGP not seen")
			}
		}},
		{"own/broken-charset.eml", func(t *testing.T, p Parsed) {
			if p.External.MessageID != "charset-1@example.org" || strings.Contains(p.BodyPlain, "\x00") {
				t.Errorf("%+v", p)
			}
		}},
		{"own/huge-headers.eml", func(t *testing.T, p Parsed) {
			if len(p.External.References) != maxRefs || p.External.References[maxRefs-1] != "ref999@example.org" {
				t.Errorf("references: %d", len(p.External.References))
			}
			if !slices.Equal(p.Flags, []string{"Work", "$Label1", `\Flagged`}) {
				t.Errorf("flags %q", p.Flags)
			}
			if p.Features[FeatureHops] != "200" {
				t.Errorf("hops %v", p.Features[FeatureHops])
			}
		}},
		{"own/garbage.eml", func(t *testing.T, p Parsed) {}},
		{"own/empty.eml", func(t *testing.T, p Parsed) {}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, err := Parse(context.Background(), readMail(t, tt.file), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			checkStorable(t, p)
			tt.check(t, p)
		})
	}
}

// checkStorable checks that every text of p fits any SQL text column.
func checkStorable(t testing.TB, p Parsed) {
	t.Helper()
	texts := []string{p.Subject, p.BodyPlain, p.BodyHTML, p.External.MessageID, p.External.InReplyTo}
	texts = append(texts, p.External.References...)
	for _, pa := range p.Participants {
		texts = append(texts, pa.Address, pa.Label)
	}
	for _, a := range p.Attachments {
		texts = append(texts, a.FileName, a.ContentType, a.MIMEBoundary)
	}
	for _, s := range texts {
		if !utf8.ValidString(s) || strings.Contains(s, "\x00") {
			t.Fatalf("not storable: %q", s)
		}
	}
}

func TestTLSVersion(t *testing.T) {
	for in, want := range map[string]string{
		"from a by b with ESMTPS id 1 (version=TLS1_2 cipher=ECDHE)":          "tls1.2",
		"from a by b (Postfix) with ESMTPS id 1; using TLSv1.3 with cipher X": "tls1.3",
		"from a by b with ESMTPS id 1":                                        "tls",
		"from a by b with SMTP id 1":                                          "",
		"from a by b (version=TLS1_0 cipher=x)":                               "tls1.0",
	} {
		if got := tlsVersion(in); got != want {
			t.Errorf("tlsVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/own", "testdata/corpus"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil && !strings.HasSuffix(name, ".enmime") {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Parse(context.Background(), raw, Limits{})
		if errors.Is(err, ErrRejected) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		checkStorable(t, p)
		_ = ThreadKey(p.Participants, p.ListIDs)
	})
}
