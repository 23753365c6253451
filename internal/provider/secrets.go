package provider

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/caliopen/functions/internal/invokeauth"
)

// secretStore keeps secrets as files, one each, readable by their owner
// only, in a folder that only its owner may list.
type secretStore struct {
	dir string
	mu  sync.Mutex
}

var errSecretExists = errors.New("secret exists")

func newSecretStore(dir string) (*secretStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return &secretStore{dir: dir}, nil
}

func (s *secretStore) path(name string) string { return filepath.Join(s.dir, name) }

// How put treats an existing secret.
type putMode int

const (
	createOnly putMode = iota // 409 when it exists
	updateOnly                // 404 when it does not
	upsert
)

// put writes a secret. The file is written aside and renamed, so a replica
// never reads half a secret.
func (s *secretStore) put(name string, value []byte, mode putMode) error {
	if !validSecretName(name) {
		return badRequest("secret name %q is not valid (letters, digits, '-', '_', '.')", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := os.Stat(s.path(name))
	switch {
	case err == nil && mode == createOnly:
		return &RequestError{Status: 409, Err: fmt.Errorf("secret %s: %w", name, errSecretExists)}
	case errors.Is(err, os.ErrNotExist) && mode == updateOnly:
		return &RequestError{Status: 404, Err: fmt.Errorf("secret %s does not exist", name)}
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-"+name+"-*")
	if err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("secret %s: %w", name, err)
	}
	if _, err := tmp.Write(value); err != nil {
		tmp.Close()
		return fmt.Errorf("secret %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), s.path(name)); err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	return nil
}

// remove deletes a secret.
func (s *secretStore) remove(name string) error {
	if !validSecretName(name) {
		return badRequest("secret name %q is not valid", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := os.Remove(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return &RequestError{Status: 404, Err: fmt.Errorf("secret %s does not exist", name)}
	}
	return err
}

// list names the secrets, sorted.
func (s *secretStore) list() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	var out []string
	for _, e := range entries {
		if validSecretName(e.Name()) && e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// validSecretName accepts Kubernetes' secret names (and underscores):
// nothing that could leave the folder or hide in it.
func validSecretName(s string) bool {
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// get reads a secret ("" when it does not exist).
func (s *secretStore) get(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := os.ReadFile(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return string(b), err
}

// guardSecret keeps the invocation key usable through the provider API: it
// cannot be removed, and a new value must hold usable keys, among them the
// one that signs now, so that no call signed before the change is refused
// after it. The key rotates in two updates: the new key first with the old
// one below it (the connector signs with the new key, the functions accept
// both), then the new key alone.
func (p *Provider) guardSecret(method, name string, value []byte) error {
	if name != InvokeKeySecret {
		return nil
	}
	switch method {
	case http.MethodDelete:
		return &RequestError{Status: http.StatusConflict, Err: fmt.Errorf(
			"secret %s is the invocation key the connector signs with and every function checks: it cannot be removed; rotate it with secret update", name)}
	case http.MethodPost, http.MethodPut:
		if err := invokeauth.Check(string(value)); err != nil {
			return badRequest("secret %s: not a usable invocation key: %v", name, err)
		}
		old, err := p.secrets.get(name)
		if err != nil {
			return fmt.Errorf("secret %s: %w", name, err)
		}
		if signing := invokeauth.First(old); method == http.MethodPut && signing != "" && !invokeauth.Holds(string(value), signing) {
			return badRequest("secret %s: the new value drops the key that signs now; put the new key on the "+
				"first line and keep the current one below it, then, once the connector signs with the new key, "+
				"update again without the old one", name)
		}
	}
	return nil
}
