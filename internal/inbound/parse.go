package inbound

import (
	"bytes"
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"

	"github.com/caliopen/functions/internal/store"
)

// Parsed is what a raw e-mail says by itself, before it is qualified for a
// user.
type Parsed struct {
	Participants []store.Participant
	Subject      string
	BodyPlain    string
	BodyHTML     string
	Date         time.Time // the Date header; zero when absent or unreadable
	External     store.ExternalRefs
	Attachments  []store.Attachment
	Flags        []string // imported IMAP flags and Gmail labels, as names
	ListIDs      []string // List-ID values, lowercased
	Features     map[string]string
	PI           store.PrivacyIndex
	Encrypted    bool // PGP/MIME or inline PGP
	Errors       int  // parse problems enmime reported (recovered)
}

// Limits of what Parse keeps from a message.
const (
	maxRefs      = 50   // References kept, the most recent ones
	maxIDLen     = 998  // longest Message-ID kept (a header line)
	maxSubject   = 4096 // longest subject kept, in bytes
	maxAddresses = 500  // participants kept
)

// participantHeaders are the address headers, in the order they are kept.
var participantHeaders = []string{"From", "Sender", "Reply-To", "To", "Cc", "Bcc"}

// Parse reads a raw message whose MIME structure is within lim (zero
// fields: DefaultLimits). A message over a limit gives an error matching
// ErrRejected, and ctx ending stops the structure's scan; enmime reads
// only what passed it. Otherwise it does not fail: what cannot be read is
// left empty, and Errors counts what enmime had to recover from.
func Parse(ctx context.Context, raw []byte, lim Limits) (Parsed, error) {
	input := withStatedDefault(raw)
	if _, err := Scan(ctx, input, lim); err != nil {
		return Parsed{}, err
	}
	// A declared charset is trusted; detection (costly, and a guess) runs
	// only for text parts that declare none.
	parser := enmime.NewParser(enmime.SkipMalformedParts(true), enmime.MultipartWOBoundaryAsSinglePart(true),
		enmime.DisableCharacterDetection(true))
	env, err := parser.ReadEnvelope(bytes.NewReader(input))
	if err != nil || env == nil {
		// Not even a header: keep what the raw bytes hold as plain text.
		return Parsed{BodyPlain: clean(string(raw)), Errors: 1, Features: map[string]string{}}, nil
	}
	p := Parsed{
		Subject:   truncate(clean(env.GetHeader("Subject")), maxSubject),
		BodyPlain: clean(env.Text),
		BodyHTML:  clean(env.HTML),
		Errors:    len(env.Errors),
	}
	if d, err := mail.ParseDate(env.GetHeader("Date")); err == nil {
		p.Date = d.UTC()
	}
	p.Participants = participants(env)
	p.External = externalRefs(env)
	p.Attachments, p.Encrypted = attachments(env)
	if !p.Encrypted && strings.Contains(p.BodyPlain, "-----BEGIN PGP MESSAGE-----") {
		p.Encrypted = true
	}
	p.Flags = importedFlags(env)
	for _, v := range env.GetHeaderValues("List-Id") {
		if id := listID(v); id != "" {
			p.ListIDs = append(p.ListIDs, id)
		}
	}
	p.Features, p.PI = privacy(env, p.Encrypted)
	return p, nil
}

// participants reads the address headers, lowercasing addresses and keeping
// each (type, address) once. Unparsable entries are skipped one by one.
func participants(env *enmime.Envelope) []store.Participant {
	var out []store.Participant
	seen := map[[2]string]bool{}
	for _, h := range participantHeaders {
		for _, a := range addressList(env, h) {
			addr := strings.ToLower(strings.TrimSpace(a.Address))
			k := [2]string{h, addr}
			if addr == "" || !strings.Contains(addr, "@") || seen[k] || len(out) >= maxAddresses {
				continue
			}
			seen[k] = true
			out = append(out, store.Participant{Type: h, Address: clean(addr), Label: clean(a.Name),
				Protocol: store.ProtocolEmail})
		}
	}
	return out
}

// addressList parses one address header leniently: the whole list first,
// then entry by entry when the list as a whole is malformed.
func addressList(env *enmime.Envelope, header string) []*mail.Address {
	list, err := env.AddressList(header)
	if err == nil {
		return list
	}
	var out []*mail.Address
	for _, v := range env.GetHeaderValues(header) {
		for _, part := range strings.Split(v, ",") {
			if a, err := mail.ParseAddress(strings.TrimSpace(part)); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// externalRefs reads Message-ID, In-Reply-To and References.
func externalRefs(env *enmime.Envelope) store.ExternalRefs {
	r := store.ExternalRefs{
		MessageID: firstID(env.GetHeader("Message-Id")),
		InReplyTo: firstID(env.GetHeader("In-Reply-To")),
	}
	refs := msgIDs(env.GetHeader("References"))
	if len(refs) > maxRefs {
		refs = refs[len(refs)-maxRefs:]
	}
	r.References = refs
	return r
}

// msgIDs extracts the <...> ids of a header, without brackets; a header
// without brackets counts as one bare id per whitespace-separated word.
func msgIDs(v string) []string {
	var out []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		if id := cleanID(v[i+1 : i+j]); id != "" {
			out = append(out, id)
		}
		v = v[i+j+1:]
	}
	if len(out) == 0 {
		for _, w := range strings.Fields(v) {
			if id := cleanID(w); id != "" {
				out = append(out, id)
			}
		}
	}
	return out
}

func firstID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

func cleanID(id string) string {
	id = strings.TrimSpace(strings.Trim(strings.TrimSpace(id), "<>"))
	if id == "" || len(id) > maxIDLen || strings.ContainsAny(id, " \t\r\n") {
		return ""
	}
	return clean(id)
}

// listID returns the <id> of a List-Id header, lowercased.
func listID(v string) string {
	if id := firstID(v); id != "" {
		return strings.ToLower(id)
	}
	return ""
}

// clean makes s storable in any SQL text column: valid UTF-8 without NUL.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
