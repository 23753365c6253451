package inbound

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"
)

// Limits bound the MIME structure of a message that Parse hands to enmime.
// enmime's time grows twofold with each level of nested multiparts (a
// 1.5 KB message 25 levels deep takes seconds of CPU), and it cannot be
// interrupted: the structure is measured first, in one linear pass, and a
// message over a limit is refused before enmime reads it.
type Limits struct {
	MaxDepth        int // nested multiparts, the message's own included
	MaxParts        int // parts of all multiparts together
	MaxHeaderFields int // header fields of all header blocks together
	MaxHeaderBytes  int // bytes of one header block (the message's or a part's)
}

// DefaultLimits are far above what mail clients write (a signed or
// encrypted message with attachments and alternative bodies nests four or
// five multiparts) and keep enmime's worst case within them to about a
// tenth of a second of CPU (500 parts ten levels deep).
func DefaultLimits() Limits {
	return Limits{MaxDepth: 10, MaxParts: 500, MaxHeaderFields: 10000, MaxHeaderBytes: 256 << 10}
}

// orDefault fills the zero fields of l from DefaultLimits.
func (l Limits) orDefault() Limits {
	d := DefaultLimits()
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxHeaderFields <= 0 {
		l.MaxHeaderFields = d.MaxHeaderFields
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return l
}

// ErrRejected is the error of a message whose MIME structure is over the
// Limits: no retry reads it differently.
var ErrRejected = errors.New("MIME structure over the limits")

// Shape is what Scan measured of a message.
type Shape struct {
	Depth        int // deepest nesting of multiparts (0: not multipart)
	Parts        int // parts of all multiparts
	HeaderFields int // header fields of all header blocks
}

// maxBoundary is the longest boundary Scan follows (RFC 2046 allows 70
// bytes): enmime's look-ahead buffer cannot hold a much longer one, so
// its parts would not end where Scan sees them end.
const maxBoundary = 998

// scanCheckEvery is how many lines Scan reads between looks at its context.
const scanCheckEvery = 4096

// Scan measures the MIME structure of raw as enmime will read it, in one
// pass over its lines, and stops at the first limit passed (an error that
// matches ErrRejected) or when ctx ends.
//
// It follows enmime's rules where they decide the structure: a header
// block (read with enmime's own header reader) ends at an empty line or at
// a boundary; a part's content ends at a line that begins with "--" and
// one of the enclosing boundaries followed by white space or "--" (a
// boundary of an outer multipart closes the inner ones); between parts, a
// line holding the boundary anywhere is a delimiter or, with "--" after
// it, the end. Where it is unsure it counts more: any part with a boundary
// parameter counts as a nested multipart.
func Scan(ctx context.Context, raw []byte, lim Limits) (Shape, error) {
	s := scanner{raw: raw, lim: lim.orDefault()}
	if err := s.run(ctx); err != nil {
		return s.shape, err
	}
	return s.shape, nil
}

// level is one open multipart.
type level struct {
	prefix []byte // "--" + boundary
	parts  int    // parts begun
	inPart bool   // within a part's content (else in its preamble, or between parts)
}

type scanner struct {
	raw    []byte
	lim    Limits
	stack  []level
	shape  Shape
	header int // start of the header block being read, -1 when none
}

func (s *scanner) run(ctx context.Context) error {
	s.header = 0
	lines := 0
	for pos := 0; pos < len(s.raw); {
		end := bytes.IndexByte(s.raw[pos:], '\n')
		next := len(s.raw)
		if end >= 0 {
			next = pos + end + 1
		}
		if lines++; lines%scanCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("scan MIME structure: %w", err)
			}
		}
		if err := s.line(pos, next); err != nil {
			return err
		}
		pos = next
	}
	if s.header >= 0 {
		return s.endHeader(s.header, len(s.raw))
	}
	return nil
}

// line handles raw[pos:next], one line with its newline.
func (s *scanner) line(pos, next int) error {
	// A line that ends the content of an enclosing multipart's part closes
	// every multipart inside it; the outermost one that matches decides.
	if k, ok := s.endedAt(pos, true); ok {
		if err := s.closeTo(k, pos); err != nil {
			return err
		}
		return s.between(k, pos, next)
	}
	// enmime looks for a boundary after a lone CR as well (two bytes on);
	// the rest of the line then reads as an empty line, skipped.
	for c := pos; c+1 < next; c++ {
		i := bytes.IndexByte(s.raw[c:next-1], '\r')
		if i < 0 {
			break
		}
		c += i
		if s.raw[c+1] == '\n' {
			continue
		}
		if k, ok := s.endedAt(c+2, false); ok {
			return s.closeTo(k, c)
		}
	}
	if s.header >= 0 {
		if !blank(s.raw[pos:next]) {
			return nil
		}
		err := s.endHeader(s.header, next)
		s.header = -1
		return err
	}
	if n := len(s.stack); n > 0 && !s.stack[n-1].inPart {
		return s.between(n-1, pos, next)
	}
	return nil
}

// endedAt returns the outermost multipart whose part's content (or
// header block) ends at w, where enmime's boundary reader checks.
func (s *scanner) endedAt(w int, lineStart bool) (int, bool) {
	for k := range s.stack {
		reading := k < len(s.stack)-1 || s.stack[k].inPart || s.header >= 0
		if reading && s.endsContent(w, s.stack[k].prefix, lineStart) {
			return k, true
		}
	}
	return 0, false
}

// closeTo ends, at pos, the header block being read and the current part
// of multipart k with every multipart inside it.
func (s *scanner) closeTo(k, pos int) error {
	if s.header >= 0 {
		if err := s.endHeader(s.header, pos); err != nil {
			return err
		}
		s.header = -1
	}
	s.stack = s.stack[:min(k+1, len(s.stack))]
	s.stack[k].inPart = false
	return nil
}

// between reads a line of multipart k outside its parts: a delimiter
// begins a part, the close delimiter (or, after a part, any other
// non-empty line) ends the multipart; the rest is preamble.
func (s *scanner) between(k, pos, next int) error {
	lv := &s.stack[k]
	line := s.raw[pos:next]
	switch {
	case len(line) == 0 || line[0] == '\r' || line[0] == '\n':
		return nil
	case bytes.Contains(line, append(lv.prefix, '-', '-')):
		s.close(k)
	case delimiter(line, lv.prefix) && s.raw[next-1] == '\n':
		lv.parts++
		lv.inPart = true
		if s.shape.Parts++; s.shape.Parts > s.lim.MaxParts {
			return fmt.Errorf("%w: more than %d parts", ErrRejected, s.lim.MaxParts)
		}
		s.header = next
	case lv.parts > 0:
		s.close(k)
	}
	return nil
}

// close ends multipart k: what follows, up to a boundary of an enclosing
// multipart, is the content of the part that held it.
func (s *scanner) close(k int) {
	s.stack = s.stack[:k]
	if k > 0 {
		s.stack[k-1].inPart = true
	}
}

// endHeader reads the header block raw[from:to] of the message or of the
// part begun last, and opens a multipart when it states a boundary.
func (s *scanner) endHeader(from, to int) error {
	block := s.raw[from:to]
	if len(block) > s.lim.MaxHeaderBytes {
		return fmt.Errorf("%w: a header block of more than %d bytes", ErrRejected, s.lim.MaxHeaderBytes)
	}
	s.shape.HeaderFields += fields(block)
	if s.shape.HeaderFields > s.lim.MaxHeaderFields {
		return fmt.Errorf("%w: more than %d header fields", ErrRejected, s.lim.MaxHeaderFields)
	}
	root := len(s.stack) == 0 && s.shape.Parts == 0
	boundary := boundaryOf(block, root)
	if boundary == "" {
		return nil
	}
	if len(boundary) > maxBoundary {
		return fmt.Errorf("%w: a boundary of more than %d bytes", ErrRejected, maxBoundary)
	}
	s.stack = append(s.stack, level{prefix: []byte("--" + boundary)})
	s.shape.Depth = max(s.shape.Depth, len(s.stack))
	if len(s.stack) > s.lim.MaxDepth {
		return fmt.Errorf("%w: multiparts nested more than %d deep", ErrRejected, s.lim.MaxDepth)
	}
	return nil
}

// endsContent says whether the bytes at pos end a part's content for the
// multipart of prefix, as enmime's boundary reader decides it: in the
// first len(prefix)+2 bytes of the line, prefix followed by white space,
// or prefix and "--".
func (s *scanner) endsContent(pos int, prefix []byte, lineStart bool) bool {
	if lineStart && pos < len(s.raw) && (s.raw[pos] == '\r' || s.raw[pos] == '\n') {
		return false
	}
	end := pos + len(prefix) + 2
	if end > len(s.raw) {
		return false // enmime's look-ahead meets the end of the message
	}
	w := s.raw[pos:end]
	return delimiter(w, prefix) || bytes.HasPrefix(w, prefix) && bytes.HasSuffix(w, []byte("--"))
}

// delimiter is enmime's test for a delimiter line: the first occurrence of
// prefix in b is followed by white space.
func delimiter(b, prefix []byte) bool {
	i := bytes.Index(b, prefix)
	if i < 0 || i+len(prefix) >= len(b) {
		return false
	}
	return unicode.IsSpace(rune(b[i+len(prefix)]))
}

// blank says whether line ends a header block (an empty line).
func blank(line []byte) bool {
	return bytes.Equal(line, []byte("\n")) || bytes.Equal(line, []byte("\r\n"))
}

// fields counts the header fields of a block: its lines that do not
// continue the previous one.
func fields(block []byte) int {
	n := 0
	for len(block) > 0 {
		if c := block[0]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			n++
		}
		i := bytes.IndexByte(block, '\n')
		if i < 0 {
			break
		}
		block = block[i+1:]
	}
	return n
}

// boundaryOf returns the boundary a header block states, as enmime reads
// it: the message's own when its Content-Type is multipart, a part's
// whatever its type. "" when none.
func boundaryOf(block []byte, root bool) string {
	if !containsFold(block, "content-type") {
		return ""
	}
	h, err := enmime.ReadHeader(bufio.NewReader(bytes.NewReader(block)), discardErrors{})
	if h == nil && err != nil {
		return ""
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mtype, params, _, err := mediatype.Parse(ct)
	if err != nil || (root && !strings.HasPrefix(mtype, "multipart/")) {
		return ""
	}
	return params["boundary"]
}

// containsFold says whether b contains the lowercase ASCII word w in any case.
func containsFold(b []byte, w string) bool {
	for i := 0; i+len(w) <= len(b); i++ {
		if c := b[i] | 0x20; c == w[0] && bytes.EqualFold(b[i:i+len(w)], []byte(w)) {
			return true
		}
	}
	return false
}

// discardErrors drops the header reader's warnings: enmime reports them
// when it parses.
type discardErrors struct{}

func (discardErrors) AddError(string, string, ...any)   {}
func (discardErrors) AddWarning(string, string, ...any) {}
