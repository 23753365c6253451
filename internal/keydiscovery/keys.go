package keydiscovery

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Key is an OpenPGP public key kept for an address, with only the user ids
// that carry the address.
type Key struct {
	Fingerprint string // uppercase hex
	Armored     string // the key re-encoded from its parsed packets
	Algorithm   string
	Size        int // bits
	Emails      []string
	ExpiresAt   time.Time // zero when it never expires
	Name        string    // the matching user id's name
}

// Why a key was refused.
var (
	ErrNoKey      = errors.New("no OpenPGP public key")
	ErrNoUserID   = errors.New("no valid user id carries the address")
	ErrRevoked    = errors.New("key revoked")
	ErrExpired    = errors.New("key expired")
	ErrTooManyKey = errors.New("too many keys")
)

// Limits bound what Keys parses.
type Limits struct {
	// MaxBytes bounds the encoded answer (armored or binary).
	MaxBytes int
	// MaxKeys bounds the keys of one answer.
	MaxKeys int
}

// DefaultLimits: 256 KiB, 16 keys.
var DefaultLimits = Limits{MaxBytes: 256 << 10, MaxKeys: 16}

// Keys parses data (binary or ASCII-armored keys) and returns the keys
// fit for addr at now: a valid (self-signed, not revoked, not expired)
// user id carries addr, and the key is neither revoked nor expired. The
// refusals are returned as well, one error per refused key.
func Keys(data []byte, addr string, now time.Time, lim Limits) ([]Key, []error) {
	if len(data) > lim.MaxBytes {
		return nil, []error{fmt.Errorf("%d bytes, at most %d: %w", len(data), lim.MaxBytes, ErrTooManyKey)}
	}
	list, err := readKeys(data)
	if err != nil {
		return nil, []error{fmt.Errorf("%w: %v", ErrNoKey, err)}
	}
	if len(list) > lim.MaxKeys {
		return nil, []error{fmt.Errorf("%d keys, at most %d: %w", len(list), lim.MaxKeys, ErrTooManyKey)}
	}
	var out []Key
	var errs []error
	for _, e := range list {
		k, err := check(e, addr, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %X: %w", e.PrimaryKey.Fingerprint, err))
			continue
		}
		out = append(out, k)
	}
	if len(list) == 0 {
		errs = append(errs, ErrNoKey)
	}
	return out, errs
}

// readKeys reads armored or binary keys; secret key material is dropped
// (only public parts are kept by Serialize).
func readKeys(data []byte) (openpgp.EntityList, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		block, err := armor.Decode(bytes.NewReader(trimmed))
		if err != nil {
			return nil, err
		}
		if block.Type != openpgp.PublicKeyType {
			return nil, fmt.Errorf("armor block %q", block.Type)
		}
		return openpgp.ReadKeyRing(block.Body)
	}
	return openpgp.ReadKeyRing(bytes.NewReader(data))
}

// check returns e as a Key if it is fit for addr at now.
func check(e *openpgp.Entity, addr string, now time.Time) (Key, error) {
	if e.Revoked(now) {
		return Key{}, ErrRevoked
	}
	var match *openpgp.Identity
	for _, id := range e.Identities {
		if id.UserId == nil || id.SelfSignature == nil || !SameAddress(id.UserId.Email, addr) {
			continue
		}
		if id.Revoked(now) || id.SelfSignature.SigExpired(now) {
			continue
		}
		match = id
		break
	}
	if match == nil {
		return Key{}, ErrNoUserID
	}
	if e.PrimaryKey.KeyExpired(match.SelfSignature, now) {
		return Key{}, ErrExpired
	}
	bits, err := e.PrimaryKey.BitLength()
	if err != nil {
		return Key{}, fmt.Errorf("key size: %w", err)
	}
	// Only the user ids that carry the address are kept: the others
	// (addresses of other domains) are vouched for by no one here.
	kept := *e
	kept.Identities = map[string]*openpgp.Identity{}
	for name, id := range e.Identities {
		if id.UserId != nil && SameAddress(id.UserId.Email, addr) {
			kept.Identities[name] = id
		}
	}
	var buf bytes.Buffer
	aw, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err == nil {
		err = errors.Join(kept.Serialize(aw), aw.Close())
	}
	if err != nil {
		return Key{}, fmt.Errorf("re-armor key: %w", err)
	}
	k := Key{Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), Armored: buf.String(),
		Algorithm: AlgorithmName(e.PrimaryKey.PubKeyAlgo), Size: int(bits), Name: match.UserId.Name}
	if s := match.SelfSignature; s.KeyLifetimeSecs != nil && *s.KeyLifetimeSecs > 0 {
		k.ExpiresAt = e.PrimaryKey.CreationTime.Add(time.Duration(*s.KeyLifetimeSecs) * time.Second)
	}
	for _, id := range kept.Identities {
		if e := strings.ToLower(strings.TrimSpace(id.UserId.Email)); !slices.Contains(k.Emails, e) {
			k.Emails = append(k.Emails, e)
		}
	}
	sort.Strings(k.Emails)
	return k, nil
}

// Binary returns the binary transferable public key of an armored key, as
// WKD serves it.
func Binary(armored string) ([]byte, error) {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(block.Body)
}

// SameAddress compares two addresses as GnuPG compares mailboxes:
// case-insensitively, surrounding spaces aside.
func SameAddress(a, b string) bool {
	return a != "" && strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// AlgorithmName names a public-key algorithm.
func AlgorithmName(a packet.PublicKeyAlgorithm) string {
	switch a {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly, packet.PubKeyAlgoRSAEncryptOnly:
		return "rsa"
	case packet.PubKeyAlgoDSA:
		return "dsa"
	case packet.PubKeyAlgoECDSA:
		return "ecdsa"
	case packet.PubKeyAlgoEdDSA:
		return "eddsa"
	case packet.PubKeyAlgoEd25519:
		return "ed25519"
	case packet.PubKeyAlgoEd448:
		return "ed448"
	}
	return fmt.Sprintf("algorithm-%d", a)
}
