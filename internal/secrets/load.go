package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/caliopen/functions/internal/secretenv"
)

// Environment variables read by LoadKeyring.
const (
	// EnvKeys holds the keys inline, in the format of ParseKeyring.
	EnvKeys = "CALIOPEN_SECRETS_KEYS"
	// EnvKeysFile names a file holding the keys, in the format of
	// ParseKeyring (an OpenFaaS secret such as /var/openfaas/secrets/caliopen-keys).
	EnvKeysFile = "CALIOPEN_SECRETS_KEYS_FILE"
)

// LoadKeyring builds the keyring from the file named by CALIOPEN_SECRETS_KEYS_FILE
// (a file or a secret volume's folder, see secretenv.ReadFile)
// or, when that is unset, from CALIOPEN_SECRETS_KEYS. Setting both, or
// neither, is an error.
func LoadKeyring(getenv func(string) string) (*Keyring, error) {
	file, inline := getenv(EnvKeysFile), getenv(EnvKeys)
	switch {
	case file != "" && inline != "":
		return nil, fmt.Errorf("secrets: set %s or %s, not both", EnvKeysFile, EnvKeys)
	case file != "":
		b, err := secretenv.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("secrets: read %s: %w", EnvKeysFile, err)
		}
		return ParseKeyring(string(b))
	case inline != "":
		return ParseKeyring(inline)
	default:
		return nil, fmt.Errorf("secrets: no keys: set %s or %s", EnvKeysFile, EnvKeys)
	}
}

// ParseKeyring reads keys written as "ID:BASE64", one per line or separated
// by commas; blank lines and lines starting with '#' are ignored. BASE64 is
// the standard encoding of KeySize random bytes (openssl rand -base64 32).
// The first key is the primary. Every malformed entry is reported at once.
func ParseKeyring(text string) (*Keyring, error) {
	var keys []Key
	var errs []error
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, entry := range strings.Split(line, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			id, b64, ok := strings.Cut(entry, ":")
			if !ok {
				errs = append(errs, fmt.Errorf("line %d: want ID:BASE64", i+1))
				continue
			}
			secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: key %q: not base64", i+1, id))
				continue
			}
			keys = append(keys, Key{ID: strings.TrimSpace(id), Secret: secret})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return NewKeyring(keys...)
}

// NewKeyLine returns a fresh key in the format of ParseKeyring, reading
// randomness from r (crypto/rand.Reader when nil).
func NewKeyLine(r io.Reader, id string) (string, error) {
	if err := checkKeyID(id); err != nil {
		return "", fmt.Errorf("secrets: %w", err)
	}
	if r == nil {
		r = rand.Reader
	}
	secret := make([]byte, KeySize)
	if _, err := io.ReadFull(r, secret); err != nil {
		return "", fmt.Errorf("secrets: read key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(secret), nil
}
