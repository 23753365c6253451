package mastoinbound

import (
	"strings"

	"golang.org/x/net/html"
)

// Text turns a status's HTML content into plain text as Mastodon's own
// plain-text rendering does: paragraphs apart by a blank line, <br> a line
// break, entities decoded, every tag dropped but its text kept (the hidden
// parts of a shortened link included: the text holds the whole URL).
func Text(content string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(content))
	para := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.TrimSpace(b.String())
		case html.TextToken:
			b.Write(z.Text())
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "br":
				b.WriteByte('\n')
			case "p":
				if para {
					b.WriteString("\n\n")
				}
				para = true
			}
		}
	}
}
