package secrets

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length in bytes of every key in a Keyring.
const KeySize = chacha20poly1305.KeySize

var (
	// ErrUnknownKey reports a sealed value whose key id the keyring lacks.
	ErrUnknownKey = errors.New("secrets: unknown key id")
	// ErrDecrypt reports a sealed value that does not authenticate: it was
	// altered, sealed for another context, or sealed by another key.
	ErrDecrypt = errors.New("secrets: cannot decrypt sealed value")
)

// Keyring holds the keys that seal and open credentials. It is safe for
// concurrent use once built.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
	rand    io.Reader
}

// Key is one named key of a Keyring.
type Key struct {
	// ID names the key inside sealed values: 1 to 32 characters among
	// letters, digits, '-', '_' and '.'.
	ID string
	// Secret is the key itself, KeySize bytes.
	Secret []byte
}

// NewKeyring builds a keyring from keys; keys[0] is the primary key, used by
// Seal. It reports every invalid or duplicate key at once.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("secrets: keyring needs at least one key")
	}
	k := &Keyring{primary: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys)), rand: rand.Reader}
	var errs []error
	for i, key := range keys {
		if err := checkKeyID(key.ID); err != nil {
			errs = append(errs, fmt.Errorf("key %d: %w", i+1, err))
			continue
		}
		if _, dup := k.aeads[key.ID]; dup {
			errs = append(errs, fmt.Errorf("key %d: duplicate id %q", i+1, key.ID))
			continue
		}
		aead, err := chacha20poly1305.NewX(key.Secret)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %q: want %d bytes, got %d", key.ID, KeySize, len(key.Secret)))
			continue
		}
		k.aeads[key.ID] = aead
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return k, nil
}

// PrimaryID returns the id of the key that Seal uses.
func (k *Keyring) PrimaryID() string { return k.primary }

// Seal encrypts plaintext with the primary key. context is authenticated but
// not stored: Open must be given the same context, so a value sealed for one
// identity (say, context = its id) cannot be replayed onto another.
func (k *Keyring) Seal(plaintext, context []byte) (Sealed, error) {
	aead := k.aeads[k.primary]
	header := make([]byte, 0, 2+len(k.primary))
	header = append(header, version1, byte(len(k.primary)))
	header = append(header, k.primary...)
	out := make([]byte, len(header), len(header)+aead.NonceSize()+len(plaintext)+aead.Overhead())
	copy(out, header)
	nonce := out[len(header) : len(header)+aead.NonceSize()]
	if _, err := io.ReadFull(k.rand, nonce); err != nil {
		return Sealed{}, fmt.Errorf("secrets: read nonce: %w", err)
	}
	out = out[:len(header)+aead.NonceSize()]
	out = aead.Seal(out, nonce, plaintext, additional(header, context))
	return Sealed{b: out}, nil
}

// Open decrypts s with the key named inside it. The zero Sealed opens to nil.
func (k *Keyring) Open(s Sealed, context []byte) ([]byte, error) {
	if s.IsZero() {
		return nil, nil
	}
	id, header, rest, err := split(s.b)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	nonce, ct := rest[:aead.NonceSize()], rest[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, additional(header, context))
	if err != nil {
		return nil, fmt.Errorf("%w (key %q)", ErrDecrypt, id)
	}
	return pt, nil
}

// Reseal re-encrypts s under the primary key when another key sealed it. It
// reports whether it changed anything; a value already under the primary key
// is returned as it is.
func (k *Keyring) Reseal(s Sealed, context []byte) (Sealed, bool, error) {
	if s.IsZero() || s.KeyID() == k.primary {
		return s, false, nil
	}
	pt, err := k.Open(s, context)
	if err != nil {
		return Sealed{}, false, err
	}
	out, err := k.Seal(pt, context)
	clear(pt)
	if err != nil {
		return Sealed{}, false, err
	}
	return out, true, nil
}

// additional binds the header (so the key id cannot be swapped) and the
// caller's context into the AEAD's associated data.
func additional(header, context []byte) []byte {
	ad := make([]byte, 0, len(header)+len(context))
	ad = append(ad, header...)
	return append(ad, context...)
}

func checkKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("key id %q: want 1 to %d characters", id, maxKeyIDLen)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("key id %q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	return nil
}
