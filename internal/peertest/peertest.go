// Package peertest decides, in one place, what a test does when a peer it
// needs (a server, a tool, a kernel feature) is missing: it skips, so that
// `go test` works on a bare machine, except under CI=true, where it fails,
// so that CI cannot pass without testing against the real peer.
package peertest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Required reports whether a missing peer fails the test (CI=true) rather
// than skipping it.
func Required() bool { return os.Getenv("CI") == "true" }

// Missing ends the test for a missing peer: it fails under CI=true and
// skips otherwise. The message says what is missing and how to get it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("peer missing, and CI=true requires it: %s", msg)
	}
	t.Skipf("peer missing: %s", msg)
}

// Env returns the value of the environment variable name that points at a
// peer, or ends the test through Missing when it is unset; hint says how
// to set it.
func Env(t testing.TB, name, hint string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(t, "%s is not set: %s", name, hint)
	}
	return v
}

// Tool returns the path of the program name, looked up in PATH and then in
// /usr/sbin (where Debian puts Postfix's and Dovecot's), or ends the test
// through Missing; hint says how to install it.
func Tool(t testing.TB, name, hint string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	Missing(t, "%s is not installed: %s", name, hint)
	return ""
}
