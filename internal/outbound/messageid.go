package outbound

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// MessageID returns the Message-ID (without angle brackets) of the message
// with id messageID sent from domain: base64url(sha256(id))@domain, as the
// original's MarshalEmail. It is stable, so a message sent twice would carry
// the same Message-ID and receivers could tell the copies apart.
func MessageID(messageID, domain string) string {
	sum := sha256.Sum256([]byte(messageID))
	return base64.RawURLEncoding.EncodeToString(sum[:]) + "@" + domain
}

// boundary returns the deterministic boundary of part n of a message.
func boundary(messageID string, n int) string {
	sum := sha256.Sum256([]byte(messageID + "/" + string(rune('a'+n))))
	return "=_caliopen_" + hex.EncodeToString(sum[:12])
}

// DomainOf returns the domain part of an address, lowercased ("" if none).
func DomainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(addr[at+1:]))
}
