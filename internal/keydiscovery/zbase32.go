package keydiscovery

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

const zbase32Alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"

// zbase32 encodes b in z-base-32 (RFC 6189 §5.1.6), 5 bits a character,
// the last group padded with zero bits.
func zbase32(b []byte) string {
	var sb strings.Builder
	var acc uint32
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			sb.WriteByte(zbase32Alphabet[(acc>>uint(bits))&31])
		}
	}
	if bits > 0 {
		sb.WriteByte(zbase32Alphabet[(acc<<uint(5-bits))&31])
	}
	return sb.String()
}

// WKDHash is the WKD hash of a local part: the z-base-32 encoded SHA-1 of
// its lowercased form.
func WKDHash(local string) string {
	sum := sha1.Sum([]byte(strings.ToLower(local)))
	return zbase32(sum[:])
}

// DANEName is the owner name of the OPENPGPKEY record of local@domain
// (RFC 7929 §3): the hex SHA2-256 of the local part, lowercased as GnuPG
// does before hashing, truncated
// to 28 octets, then _openpgpkey and the domain, fully qualified.
func DANEName(local, domain string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(local)))
	return hex.EncodeToString(sum[:28]) + "._openpgpkey." + strings.TrimSuffix(domain, ".") + "."
}

// SplitAddress splits an address into its local part and its lowercased
// domain; ok is false when it is not local@domain.
func SplitAddress(addr string) (local, domain string, ok bool) {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", false
	}
	local, domain = addr[:at], strings.ToLower(addr[at+1:])
	if strings.ContainsAny(domain, "/?#[]@ \t\r\n") || strings.ContainsAny(local, "\r\n") {
		return "", "", false
	}
	return local, domain, true
}
