package inbound

import "bytes"

// withStatedDefault returns raw with a Content-Type stated for a message
// without one, when the message is 7-bit throughout: text/plain, as RFC
// 2045 §5.2 gives it, so the parser need not guess a charset (its costliest
// step). The charset stated is UTF-8 rather than the RFC's us-ascii: 7-bit
// bytes read the same in both, and UTF-8 spares the parser a conversion
// reader. Any other message is returned unchanged. Only the parser's input
// changes, never the stored raw message.
func withStatedDefault(raw []byte) []byte {
	end := bytes.Index(raw, []byte("\n\n"))
	if crlf := bytes.Index(raw, []byte("\r\n\r\n")); crlf >= 0 && (end < 0 || crlf < end) {
		end = crlf
	}
	if end < 0 {
		return raw // no body
	}
	for _, b := range raw {
		if b >= 0x80 {
			return raw
		}
	}
	for _, line := range bytes.Split(raw[:end], []byte("\n")) {
		if len(line) >= len("content-type:") && bytes.EqualFold(line[:len("content-type:")], []byte("content-type:")) {
			return raw
		}
	}
	nl := "\n"
	if i := bytes.IndexByte(raw, '\n'); i > 0 && raw[i-1] == '\r' {
		nl = "\r\n"
	}
	out := make([]byte, 0, len(raw)+50)
	out = append(out, "Content-Type: text/plain; charset=utf-8"+nl...)
	return append(out, raw...)
}
