package inbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jhillyerd/enmime/v2"
)

// bomb is a message of depth nested multiparts, each opened on one line
// by ct (a format with the level) and nl.
func bomb(depth int, nl, ct string) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org" + nl + "Subject: nesting" + nl)
	for i := range depth {
		fmt.Fprintf(&b, ct+nl+nl+"--b%d"+nl, i, i)
	}
	b.WriteString("Content-Type: text/plain" + nl + nl + "deep" + nl)
	return b.Bytes()
}

// levels opens multiparts from..to-1, each with a header block and the
// delimiter format delim (with the level).
func levels(b *bytes.Buffer, from, to int, delim string) {
	for i := from; i < to; i++ {
		fmt.Fprintf(b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"+delim+"\r\n", i, i)
	}
}

// inlineBomb nests depth multiparts whose delimiters are not at the start
// of their lines, which enmime accepts between parts.
func inlineBomb(depth int) []byte {
	b := bytes.NewBufferString("From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\npreamble --b0 \r\n")
	levels(b, 1, depth, "xx--b%d ")
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
	return b.Bytes()
}

// crBomb ends each part's content after a lone CR (enmime looks two bytes
// on) and opens the next level on the following line.
func crBomb(depth int) []byte {
	b := bytes.NewBufferString("From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n--b0\r\n")
	levels(b, 1, depth, "--b%d")
	b.WriteString("Content-Type: text/plain\r\n\r\ntext\rX--b0 tail\r\n")
	for i := depth; i < 2*depth; i++ {
		b.WriteString("yy--b0 \r\n")
		levels(b, i, i+1, "--b%d")
	}
	return b.Bytes()
}

// enmimeDepth is the nesting of multiparts enmime read in p.
func enmimeDepth(p *enmime.Part) int {
	if p == nil || p.FirstChild == nil {
		return 0
	}
	d := 0
	for c := p.FirstChild; c != nil; c = c.NextSibling {
		d = max(d, enmimeDepth(c))
	}
	return d + 1
}

func enmimeRead(t testing.TB, raw []byte) *enmime.Part {
	t.Helper()
	p := enmime.NewParser(enmime.SkipMalformedParts(true), enmime.MultipartWOBoundaryAsSinglePart(true),
		enmime.DisableCharacterDetection(true))
	root, err := p.ReadParts(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	return root
}

func TestScanMeasuresWhatEnmimeNests(t *testing.T) {
	shapes := map[string]func(int) []byte{
		"crlf": func(d int) []byte { return bomb(d, "\r\n", "Content-Type: multipart/mixed; boundary=b%d") },
		"lf":   func(d int) []byte { return bomb(d, "\n", "Content-Type: multipart/mixed; boundary=b%d") },
		"rfc2231": func(d int) []byte {
			return bomb(d, "\r\n", "CONTENT-TYPE : Multipart/Related;\r\n boundary*0=\"b\";\r\n boundary*1=\"%d\"")
		},
		"inline": inlineBomb,
		"cr":     crBomb,
	}
	for name, gen := range shapes {
		for _, d := range []int{1, 3, 6} {
			t.Run(fmt.Sprintf("%s/%d", name, d), func(t *testing.T) {
				raw := gen(d)
				got := enmimeDepth(enmimeRead(t, raw))
				if got < d {
					t.Fatalf("enmime nests %d multiparts, the test meant %d", got, d)
				}
				s, err := Scan(context.Background(), raw, Limits{})
				if err != nil {
					t.Fatal(err)
				}
				if s.Depth < got {
					t.Errorf("Scan measured depth %d, enmime nests %d", s.Depth, got)
				}
				if _, err := Scan(context.Background(), raw, Limits{MaxDepth: got - 1 + boolInt(got == 1)}); got > 1 && !errors.Is(err, ErrRejected) {
					t.Errorf("depth %d passed a limit of %d: %v", got, got-1, err)
				}
			})
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestHostileMailIsRejected(t *testing.T) {
	files, err := filepath.Glob("testdata/hostile/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no hostile mail: %v", err)
	}
	cases := map[string][]byte{}
	for _, f := range files {
		cases[filepath.Base(f)] = readMail(t, strings.TrimPrefix(f, "testdata/"))
	}
	var fields, long bytes.Buffer
	fields.WriteString("From: a@example.org\r\n")
	for i := range DefaultLimits().MaxHeaderFields + 1 {
		fmt.Fprintf(&fields, "X-H%d: v\r\n", i)
	}
	fields.WriteString("\r\nbody\r\n")
	cases["generated header fields"] = fields.Bytes()
	long.WriteString("From: a@example.org\r\nX-Long: ")
	for range DefaultLimits().MaxHeaderBytes / 64 {
		long.WriteString(strings.Repeat("a", 64) + "\r\n ")
	}
	long.WriteString("end\r\n\r\nbody\r\n")
	cases["generated long header"] = long.Bytes()
	cases["generated cr bomb"] = crBomb(40)
	cases["generated long boundary"] = bomb(2, "\r\n", "Content-Type: multipart/mixed; boundary="+strings.Repeat("z", 1000)+"%d")
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(context.Background(), raw, Limits{})
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("Parse = %v, want ErrRejected", err)
			}
		})
	}
}

func TestTestMailPassesScan(t *testing.T) {
	files, _ := filepath.Glob("testdata/own/*")
	corpus, _ := filepath.Glob("testdata/corpus/*.raw")
	for _, f := range append(files, corpus...) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Scan(context.Background(), withStatedDefault(raw), Limits{})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if d := enmimeDepth(enmimeRead(t, withStatedDefault(raw))); s.Depth < d {
			t.Errorf("%s: Scan measured depth %d, enmime nests %d", f, s.Depth, d)
		}
	}
}

func TestScanStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	raw := bytes.Repeat([]byte("line\r\n"), 2*scanCheckEvery)
	if _, err := Scan(ctx, raw, Limits{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan = %v, want context.Canceled", err)
	}
}

// FuzzScan checks that Scan never measures less nesting than enmime
// reads: a message Scan lets through is one enmime parses within bounds.
func FuzzScan(f *testing.F) {
	for _, dir := range []string{"testdata/own", "testdata/corpus", "testdata/hostile"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil && !strings.HasSuffix(name, ".enmime") {
				f.Add(b)
			}
		}
	}
	f.Add(crBomb(4))
	f.Add(inlineBomb(4))
	lim := Limits{MaxDepth: 6, MaxParts: 200}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := Scan(context.Background(), raw, lim)
		if err != nil {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("Scan = %v, want nil or ErrRejected", err)
			}
			return
		}
		if d := enmimeDepth(enmimeRead(t, raw)); d > s.Depth {
			t.Fatalf("Scan measured depth %d, enmime nests %d", s.Depth, d)
		}
	})
}

// TestScanSoundUnderEdits edits a nested message one byte at a time
// (deleted, replaced, inserted) and checks Scan against enmime each time.
func TestScanSoundUnderEdits(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of parses")
	}
	for _, base := range [][]byte{bomb(5, "\r\n", "Content-Type: multipart/mixed; boundary=b%d"), crBomb(3)} {
		edits := 0
		check := func(raw []byte) {
			edits++
			s, err := Scan(context.Background(), raw, Limits{MaxDepth: 50})
			if err != nil {
				return
			}
			if d := enmimeDepth(enmimeRead(t, raw)); d > s.Depth {
				t.Fatalf("Scan measured depth %d, enmime nests %d:\n%q", s.Depth, d, raw)
			}
		}
		for i := range base {
			check(append(bytes.Clone(base[:i]), base[i+1:]...))
			for _, c := range []byte("\r\n -\";\tb") {
				m := bytes.Clone(base)
				m[i] = c
				check(m)
				check(append(append(bytes.Clone(base[:i]), c), base[i:]...))
			}
		}
		t.Logf("%d edits", edits)
	}
}
