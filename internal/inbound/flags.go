package inbound

import (
	"encoding/base64"
	"strings"

	"github.com/jhillyerd/enmime/v2"
)

// flagHeaders carry the flags and labels of a mail fetched from a remote
// IMAP account: base64 of a CRLF-separated list (the original's format).
var flagHeaders = []string{"X-Fetched-Imap-Flags", "X-Fetched-X-Gm-Labels"}

// excludedFlags are system flags that never become tags (lowercased).
var excludedFlags = map[string]bool{
	`\seen`: true, `\recent`: true, `\sent`: true, `\drafts`: true, `\junk`: true, `\trash`: true,
	`\all`: true, `\archive`: true, `$notjunk`: true, "nonjunk": true, "notjunk": true,
	`$mdnsent`: true, `$forwarded`: true, `$sent`: true,
}

// maxFlags bounds the tags imported from one message.
const maxFlags = 50

// importedFlags returns the imported flags of env that become tags, each
// once, in order.
func importedFlags(env *enmime.Envelope) []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range flagHeaders {
		for _, v := range env.GetHeaderValues(h) {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil {
				continue
			}
			for _, f := range strings.Split(string(b), "\r\n") {
				f = clean(strings.TrimSpace(f))
				k := strings.ToLower(f)
				if f == "" || len(f) > 100 || excludedFlags[k] || seen[k] || len(out) >= maxFlags {
					continue
				}
				seen[k] = true
				out = append(out, f)
			}
		}
	}
	return out
}
