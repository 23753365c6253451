package natsusers

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DirName is the folder of a local system's data directory that holds the
// password of each NATS user, one owner-only file named for the user.
const DirName = "nats-auth"

// PasswordFile is the file of user's password in data directory dataDir.
func PasswordFile(dataDir, user string) string { return filepath.Join(dataDir, DirName, user) }

// EnsurePasswords returns the password of each user in dataDir, making the
// ones missing (random, 0600) on first use and keeping the others: a
// replica or an operator's command line started earlier keeps working
// across restarts.
func EnsurePasswords(dataDir string, users []string) (map[string]string, error) {
	dir := filepath.Join(dataDir, DirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("nats passwords: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("nats passwords: %w", err)
	}
	out := make(map[string]string, len(users))
	for _, u := range users {
		f, err := os.OpenFile(PasswordFile(dataDir, u), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.WriteString(rand.Text() + rand.Text() + "\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("nats password of %s: %w", u, err)
		}
		if out[u], err = ReadPassword(dataDir, u); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadPassword reads user's password in dataDir; the file must be the
// owner's alone.
func ReadPassword(dataDir, user string) (string, error) {
	path := PasswordFile(dataDir, user)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no NATS password for %s in %s: the local system writes it at its first start (is -data the system's data directory?)", user, dataDir)
	}
	if err != nil {
		return "", fmt.Errorf("nats password of %s: %w", user, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("nats password of %s: %w", user, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("nats password file %s may be read by others (mode %o): chmod 600 it", path, st.Mode().Perm())
	}
	b := make([]byte, 1024)
	n, err := f.Read(b)
	if err != nil {
		return "", fmt.Errorf("nats password of %s: %w", user, err)
	}
	pw := strings.TrimSpace(string(b[:n]))
	if pw == "" {
		return "", fmt.Errorf("nats password file %s is empty", path)
	}
	return pw, nil
}
