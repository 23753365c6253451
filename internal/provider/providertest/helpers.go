package providertest

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// WaitFor polls cond until it holds, failing the test after a minute: a
// bound on a hang, not a speed assertion.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Hold makes the fakes sharing dir hold their calls until release is
// called (or the test ends).
func Hold(t testing.TB, dir string) (release func()) {
	t.Helper()
	name := filepath.Join(dir, HoldFile)
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { os.Remove(name) }) }
	t.Cleanup(release)
	return release
}

// Processed lists the ids of the calls the fakes sharing dir completed, in
// order.
func Processed(t testing.TB, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ProcessedFile))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}
