// Package secretenv reads a setting that may be secret: from the variable
// NAME, or from the file named by NAME_FILE (an OpenFaaS or Kubernetes secret
// mounted as a file), which wins. File contents are trimmed of surrounding
// white space.
//
// A secret is mounted in one of two layouts, and ReadFile reads both:
// OpenFaaS mounts each secret as the file /var/openfaas/secrets/<name>;
// a Kubernetes secret volume, as in the Knative Services that "faas-cli
// generate --api=serving.knative.dev/v1" writes, mounts it as the folder
// /var/openfaas/secrets/<name>/ holding one file per key of the secret.
package secretenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxSecret bounds a secret file's size: secrets are short (a DSN, a
// password, a few keys), and a file that is not one is not read whole.
const maxSecret = 64 << 10

// Value returns the setting name and whether it was set.
func Value(getenv func(string) string, name string) (string, error) {
	if f := strings.TrimSpace(getenv(name + "_FILE")); f != "" {
		b, err := ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return getenv(name), nil
}

// ReadFile reads the secret at path: the file itself, or, when path is a
// folder (a Kubernetes secret volume), its key named like the folder (the
// key "faas-cli secret create <name>" writes) or else its only key. The
// volume's own entries, whose names start with "..", are not keys.
func ReadFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		if path, err = keyOf(path); err != nil {
			return nil, err
		}
		if st, err = os.Stat(path); err != nil {
			return nil, err
		}
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > maxSecret {
		return nil, fmt.Errorf("%s holds %d bytes, more than a secret's %d", path, st.Size(), maxSecret)
	}
	return os.ReadFile(path)
}

// keyOf picks the file of a secret volume that holds the secret.
func keyOf(dir string) (string, error) {
	named := filepath.Join(dir, filepath.Base(dir))
	if _, err := os.Stat(named); err == nil {
		return named, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var keys []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") {
			keys = append(keys, e.Name())
		}
	}
	switch len(keys) {
	case 1:
		return filepath.Join(dir, keys[0]), nil
	case 0:
		return "", fmt.Errorf("%s is a secret folder without a key", dir)
	default:
		return "", fmt.Errorf("%s is a secret folder with keys %s: want one, or one named %s", dir, strings.Join(keys, ", "), filepath.Base(dir))
	}
}
