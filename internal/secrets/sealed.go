package secrets

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// version1 is the first byte of every value sealed by this package.
const version1 = 1

// maxKeyIDLen bounds key ids so that the header length fits in one byte.
const maxKeyIDLen = 32

// ErrMalformed reports bytes that are not a sealed value of this package.
var ErrMalformed = errors.New("secrets: malformed sealed value")

// Sealed is an encrypted value: version byte, key id length, key id, nonce,
// then ciphertext with its tag. The zero Sealed means "no value".
//
// The type exists so that APIs can demand sealed bytes: the only ways to
// build one are Keyring.Seal and ParseSealed, which checks the layout.
type Sealed struct {
	b []byte
}

// ParseSealed checks that b has the layout of a sealed value and wraps it.
// An empty b gives the zero Sealed. It does not decrypt anything.
func ParseSealed(b []byte) (Sealed, error) {
	if len(b) == 0 {
		return Sealed{}, nil
	}
	if _, _, _, err := split(b); err != nil {
		return Sealed{}, err
	}
	return Sealed{b: append([]byte(nil), b...)}, nil
}

// IsZero reports whether s holds no value.
func (s Sealed) IsZero() bool { return len(s.b) == 0 }

// Bytes returns the sealed bytes, suitable for storage. The zero Sealed gives nil.
func (s Sealed) Bytes() []byte {
	if s.IsZero() {
		return nil
	}
	return append([]byte(nil), s.b...)
}

// KeyID returns the id of the key that sealed s, or "" for the zero Sealed.
func (s Sealed) KeyID() string {
	if s.IsZero() {
		return ""
	}
	id, _, _, _ := split(s.b)
	return id
}

// String hides the content so a Sealed never ends up readable in logs.
func (s Sealed) String() string {
	if s.IsZero() {
		return "sealed()"
	}
	return fmt.Sprintf("sealed(key=%s, %d bytes)", s.KeyID(), len(s.b))
}

// split parses the layout: it returns the key id, the header (the
// authenticated prefix: version, length and key id), and the rest (nonce,
// ciphertext, tag).
func split(b []byte) (keyID string, header, rest []byte, err error) {
	if len(b) < 2 || b[0] != version1 {
		return "", nil, nil, ErrMalformed
	}
	n := int(b[1])
	if n == 0 || n > maxKeyIDLen || len(b) < 2+n+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return "", nil, nil, ErrMalformed
	}
	id := string(b[2 : 2+n])
	if err := checkKeyID(id); err != nil {
		return "", nil, nil, ErrMalformed
	}
	return id, b[:2+n], b[2+n:], nil
}
