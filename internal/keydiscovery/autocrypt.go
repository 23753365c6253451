package keydiscovery

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// MailHeaders are the headers of one message received from an address
// that matter to Autocrypt.
type MailHeaders struct {
	From      string    // the From address
	Date      time.Time // the message's effective date
	Autocrypt []string  // the values of its Autocrypt headers
}

// Autocrypt finds keys in the Autocrypt headers of mail received from the
// address (Autocrypt Level 1 peer state: the header of the newest message
// that carries a valid one wins).
type Autocrypt struct {
	// Mail returns the headers of messages received from addr.
	Mail func(ctx context.Context, addr string) ([]MailHeaders, error)
	// Now clamps dates in the future, as Level 1 does; nil is time.Now.
	Now func() time.Time
}

// Name is "autocrypt".
func (a *Autocrypt) Name() string { return store.KeySourceAutocrypt }

// Lookup returns the keydata of the newest valid Autocrypt header whose
// addr is the message's From address and addr.
func (a *Autocrypt) Lookup(ctx context.Context, addr string) ([]Found, error) {
	mail, err := a.Mail(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("autocrypt: %w", err)
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	for i := range mail {
		if mail[i].Date.After(now) {
			mail[i].Date = now
		}
	}
	sort.SliceStable(mail, func(i, j int) bool { return mail[i].Date.After(mail[j].Date) })
	for _, m := range mail {
		if !SameAddress(m.From, addr) {
			continue
		}
		// Level 1: a message with more than one valid header is treated as
		// having none.
		var keys [][]byte
		for _, h := range m.Autocrypt {
			hAddr, data, err := ParseAutocrypt(h)
			if err == nil && SameAddress(hAddr, m.From) {
				keys = append(keys, data)
			}
		}
		if len(keys) == 1 {
			return []Found{{Data: keys[0], Source: store.KeySourceAutocrypt,
				Origin: "Autocrypt header of " + m.Date.UTC().Format(time.RFC3339)}}, nil
		}
	}
	return nil, nil
}

// ErrBadAutocrypt is a header Autocrypt Level 1 says to ignore.
var ErrBadAutocrypt = errors.New("invalid Autocrypt header")

// maxKeydata bounds a header's decoded key data (Level 1 expects a few
// KiB).
const maxKeydata = 64 << 10

// ParseAutocrypt reads one Autocrypt header value: addr and keydata are
// required, prefer-encrypt is optional, any other attribute not starting
// with "_" makes the header invalid (Level 1 §2.1).
func ParseAutocrypt(v string) (addr string, keydata []byte, err error) {
	if len(v) > maxKeydata*4/3+1024 {
		return "", nil, fmt.Errorf("%w: too long", ErrBadAutocrypt)
	}
	var kd string
	seen := map[string]bool{}
	for _, attr := range strings.Split(v, ";") {
		attr = strings.TrimSpace(attr)
		if attr == "" {
			continue
		}
		name, value, ok := strings.Cut(attr, "=")
		if !ok {
			return "", nil, fmt.Errorf("%w: attribute %q", ErrBadAutocrypt, attr)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if seen[name] {
			return "", nil, fmt.Errorf("%w: %s twice", ErrBadAutocrypt, name)
		}
		seen[name] = true
		switch {
		case name == "addr":
			addr = strings.TrimSpace(value)
		case name == "keydata":
			kd = value
		case name == "prefer-encrypt" || strings.HasPrefix(name, "_"):
		default:
			return "", nil, fmt.Errorf("%w: unknown critical attribute %q", ErrBadAutocrypt, name)
		}
	}
	if addr == "" || kd == "" {
		return "", nil, fmt.Errorf("%w: addr and keydata are required", ErrBadAutocrypt)
	}
	kd = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, kd)
	keydata, err = base64.StdEncoding.DecodeString(kd)
	if err != nil {
		return "", nil, fmt.Errorf("%w: keydata: %v", ErrBadAutocrypt, err)
	}
	if len(keydata) > maxKeydata {
		return "", nil, fmt.Errorf("%w: keydata over %d bytes", ErrBadAutocrypt, maxKeydata)
	}
	return addr, keydata, nil
}
