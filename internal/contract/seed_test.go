package contract

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// seedBlock is one payload of the seed text with what the lines before it
// said: its topics, queue group, orders and whether they are emitted or handled.
type seedBlock struct {
	topics, orders, keys []string
	queue                string
	emitted              bool
	line                 int
}

var seedKey = regexp.MustCompile(`^"([a-z_]+)":`)

// parseSeed reads testdata/seed.txt, a verbatim copy of the seed document.
func parseSeed(t *testing.T) []seedBlock {
	t.Helper()
	f, err := os.Open("testdata/seed.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	head := func(s string) string { return strings.TrimSpace(strings.SplitN(s, " - ", 2)[0]) }
	list := func(s string) []string {
		var out []string
		for _, p := range strings.Split(head(s), ",") {
			if p = strings.Trim(strings.TrimSpace(p), `"`); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	var blocks []seedBlock
	var cur seedBlock
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "function") || strings.HasPrefix(l, "class"):
			cur = seedBlock{}
		case strings.HasSuffix(l, "topic:") || strings.HasSuffix(l, "topics:") || strings.HasSuffix(l, "topic :"):
			cur.topics, cur.queue = list(lines[i+1]), ""
		case strings.HasSuffix(l, "queue:"):
			cur.queue = head(lines[i+1])
		case strings.Contains(l, "orders emitted") || strings.Contains(l, "orders handled"):
			cur.emitted = strings.Contains(l, "emitted")
			cur.orders = list(lines[i+1])
		case l == "{":
			b := cur
			b.line, b.keys = i+1, nil
			for i++; lines[i] != "}"; i++ {
				if m := seedKey.FindStringSubmatch(lines[i]); m != nil {
					b.keys = append(b.keys, m[1])
				}
			}
			blocks = append(blocks, b)
		}
	}
	return blocks
}

// TestSeedAgreement checks the table against the seed text itself: every
// subject, queue group and order the seed names, and every payload's field
// names (in order, for emitters).
func TestSeedAgreement(t *testing.T) {
	c := Caliopen()
	blocks := parseSeed(t)
	if len(blocks) != 27 {
		t.Fatalf("parsed %d payloads from the seed, want 27", len(blocks))
	}
	for _, b := range blocks {
		for _, topic := range b.topics {
			s, ok := c.Subject(topic)
			if !ok {
				t.Errorf("seed line %d: subject %s missing from the table", b.line, topic)
				continue
			}
			if b.queue != "" && b.queue != s.Queue {
				t.Errorf("seed line %d: %s queue %s, table says %s", b.line, topic, b.queue, s.Queue)
			}
			for _, name := range b.orders {
				o, ok := s.Order(name)
				if !ok {
					t.Errorf("seed line %d: order %s on %s missing from the table", b.line, name, topic)
					continue
				}
				if b.emitted {
					found := false
					for _, e := range o.Emitters {
						found = found || slices.Equal(e.Fields, b.keys)
					}
					if !found {
						t.Errorf("seed line %d: no emitter of %s on %s sends %v", b.line, name, topic, b.keys)
					}
					continue
				}
				if !slices.Equal(fieldNames(o.Payload), b.keys) && !(s.Name == SubjectKeyAction || s.Name == SubjectTwitterDM && name == OrderSync) {
					t.Errorf("seed line %d: %s %s payload %v, table has %v", b.line, topic, name, b.keys, fieldNames(o.Payload))
				}
				for _, r := range o.Required {
					if !slices.Contains(b.keys, r) {
						t.Errorf("seed line %d: %s %s requires %s, which the seed does not list", b.line, topic, name, r)
					}
				}
			}
		}
	}
}
