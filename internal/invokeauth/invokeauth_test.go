package invokeauth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/invokeauth"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "caliopen-invoke-key")
	old, current := strings.Repeat("a", 32), strings.Repeat("b", 64)
	if err := os.WriteFile(file, []byte("# rotation: the first signs\n"+current+"\n\n"+old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := invokeauth.Load(env(map[string]string{"CALIOPEN_INVOKE_KEY_FILE": file}))
	if err != nil {
		t.Fatal(err)
	}
	c := invokeauth.Call{Method: "POST", Function: "f", Body: []byte("{}")}
	now := time.Now()
	oldOnly, _ := invokeauth.ParseKeys(old)
	if err := k.Verify(now, oldOnly.Sign(now, c), c); err != nil {
		t.Errorf("a call signed with the second key: %v", err)
	}
	curOnly, _ := invokeauth.ParseKeys(current)
	if err := curOnly.Verify(now, k.Sign(now, c), c); err != nil {
		t.Errorf("the first key does not sign: %v", err)
	}

	refused := map[string]map[string]string{
		"nothing":     nil,
		"short key":   {"CALIOPEN_INVOKE_KEY": "short"},
		"bad switch":  {"CALIOPEN_INVOKE_INSECURE": "maybe"},
		"absent file": {"CALIOPEN_INVOKE_KEY_FILE": file + ".absent"},
	}
	for name, e := range refused {
		if k, err := invokeauth.Load(env(e)); err == nil {
			t.Errorf("%s: Load = %v, nil; want a refusal", name, k)
		}
	}
	if k, err := invokeauth.Load(env(map[string]string{"CALIOPEN_INVOKE_INSECURE": "true"})); k != nil || err != nil {
		t.Errorf("insecure mode: Load = %v, %v; want nil, nil", k, err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	k, _ := invokeauth.ParseKeys(strings.Repeat("k", 32))
	c := invokeauth.Call{Method: "POST", Function: "f", Subject: "s", CorrelationID: "id", Body: []byte("{}")}
	now := time.Unix(1_800_000_000, 0)
	good := k.Sign(now, c)
	if err := k.Verify(now.Add(invokeauth.MaxAge), good, c); err != nil {
		t.Errorf("at the end of the window: %v", err)
	}
	for name, h := range map[string]string{
		"empty": "", "garbage": "hello", "no time": good[strings.Index(good, ",")+1:],
		"short mac": good[:len(good)-2], "late": "", "flipped": good[:len(good)-1] + "0",
	} {
		at := now
		if name == "late" {
			h, at = good, now.Add(invokeauth.MaxAge+time.Second)
		}
		if name == "flipped" && strings.HasSuffix(good, "0") {
			h = good[:len(good)-1] + "1"
		}
		if err := k.Verify(at, h, c); !errors.Is(err, invokeauth.ErrUnauthenticated) {
			t.Errorf("%s: Verify = %v, want ErrUnauthenticated", name, err)
		}
	}
}

// TestLoadFileFollows: keys loaded from a file follow it without a restart.
// A verifier that has not looked at the file since the signer moved to a
// new key reads it at the first signature that does not match; a file
// that no longer holds a usable key leaves the keys in force.
func TestLoadFileFollows(t *testing.T) {
	file := filepath.Join(t.TempDir(), "caliopen-invoke-key")
	old, next := strings.Repeat("o", 32), strings.Repeat("n", 32)
	write := func(text string) {
		t.Helper()
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(old + "\n")
	verifier, err := invokeauth.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	oldOnly, _ := invokeauth.ParseKeys(old)
	nextOnly, _ := invokeauth.ParseKeys(next)
	c := invokeauth.Call{Method: "POST", Function: "f", Subject: "s", Body: []byte("{}")}
	now := time.Now()
	steps := []struct {
		file          string
		oldOK, nextOK bool
	}{
		{next + "\n" + old + "\n", true, true}, // the new key first, the old kept
		{"", true, true},                       // emptied: the keys stay
		{"short\n", true, true},                // unusable: the keys stay
		{next + "\n", false, true},             // the old one removed: refused from the next read on
	}
	for i, s := range steps {
		write(s.file)
		if !s.oldOK {
			time.Sleep(invokeauth.ReloadEvery)
		}
		if err := verifier.Verify(now, oldOnly.Sign(now, c), c); (err == nil) != s.oldOK {
			t.Errorf("step %d: a call signed with the old key: %v, want accepted %v", i, err, s.oldOK)
		}
		if err := verifier.Verify(now, nextOnly.Sign(now, c), c); (err == nil) != s.nextOK {
			t.Errorf("step %d: a call signed with the new key: %v, want accepted %v", i, err, s.nextOK)
		}
	}
	// A signer follows the file too, within ReloadEvery.
	signer, err := invokeauth.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	write(old + "\n")
	deadline := time.Now().Add(3 * invokeauth.ReloadEvery)
	for oldOnly.Verify(time.Now(), signer.Sign(time.Now(), c), c) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the signer still signs with the key the file no longer holds")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestKeyFileText(t *testing.T) {
	a, b := strings.Repeat("a", 32), strings.Repeat("b", 40)
	text := "# comment\n" + a + "\n" + b + "\n"
	if err := invokeauth.Check(text); err != nil {
		t.Errorf("Check(two keys) = %v", err)
	}
	for _, bad := range []string{"", "# only a comment\n", "short\n", a + "\nshort\n"} {
		if invokeauth.Check(bad) == nil {
			t.Errorf("Check(%q) = nil, want a refusal", bad)
		}
	}
	if got := invokeauth.First(text); got != a {
		t.Errorf("First = %q, want %q", got, a)
	}
	if !invokeauth.Holds(text, b) || invokeauth.Holds(text, strings.Repeat("c", 32)) {
		t.Error("Holds does not tell a held key from another")
	}
}
