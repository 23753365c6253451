package secrets_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/secrets"
)

func ring(t *testing.T, ids ...string) (*secrets.Keyring, string) {
	t.Helper()
	var lines []string
	for _, id := range ids {
		l, err := secrets.NewKeyLine(nil, id)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	text := strings.Join(lines, "\n")
	k, err := secrets.ParseKeyring(text)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return k, text
}

func TestSealOpen(t *testing.T) {
	k, _ := ring(t, "k1")
	pw := []byte("hunter2-very-secret")
	s, err := k.Seal(pw, []byte("identity-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s.Bytes(), pw) {
		t.Fatal("sealed bytes contain the plaintext")
	}
	if s.KeyID() != "k1" {
		t.Fatalf("KeyID = %q, want k1", s.KeyID())
	}
	if strings.Contains(s.String(), "hunter2") {
		t.Fatalf("String() leaks: %s", s)
	}
	got, err := k.Open(s, []byte("identity-1"))
	if err != nil || string(got) != string(pw) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	s2, _ := k.Seal(pw, []byte("identity-1"))
	if bytes.Equal(s.Bytes(), s2.Bytes()) {
		t.Fatal("two seals of the same plaintext are equal: nonce reused")
	}
	if _, err := k.Open(s, []byte("identity-2")); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("Open with another context = %v, want ErrDecrypt", err)
	}
	b := s.Bytes()
	b[len(b)-1] ^= 1
	tampered, err := secrets.ParseSealed(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(tampered, []byte("identity-1")); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("Open tampered = %v, want ErrDecrypt", err)
	}
}

func TestRotation(t *testing.T) {
	old, oldText := ring(t, "k1")
	s, err := old.Seal([]byte("pw"), nil)
	if err != nil {
		t.Fatal(err)
	}
	newLine, _ := secrets.NewKeyLine(nil, "k2")
	rotated, err := secrets.ParseKeyring(newLine + "," + oldText)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.PrimaryID() != "k2" {
		t.Fatalf("PrimaryID = %q, want k2", rotated.PrimaryID())
	}
	if got, err := rotated.Open(s, nil); err != nil || string(got) != "pw" {
		t.Fatalf("Open old value with rotated ring = %q, %v", got, err)
	}
	moved, changed, err := rotated.Reseal(s, nil)
	if err != nil || !changed || moved.KeyID() != "k2" {
		t.Fatalf("Reseal = %v, %v, %v", moved, changed, err)
	}
	if _, changed, _ := rotated.Reseal(moved, nil); changed {
		t.Fatal("Reseal of a primary-key value changed it")
	}
	onlyNew, err := secrets.ParseKeyring(newLine)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onlyNew.Open(s, nil); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("Open with a ring lacking k1 = %v, want ErrUnknownKey", err)
	}
	impostor, _ := ring(t, "k1")
	if _, err := impostor.Open(s, nil); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("Open with another key named k1 = %v, want ErrDecrypt", err)
	}
}

func TestParseKeyringReportsAll(t *testing.T) {
	_, err := secrets.ParseKeyring("# comment\nbad-entry\nk2:!!notbase64\nk3:AAAA\n")
	if err == nil {
		t.Fatal("ParseKeyring accepted bad keys")
	}
	for _, want := range []string{"line 2", "k2", "want ID:BASE64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	_, err = secrets.ParseKeyring("a/b:AAAA,c:AAAA,c:AAAA")
	for _, want := range []string{`"a/b"`, `"c": want 32 bytes`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestParseSealedRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{{0}, {1, 0}, {1, 40}, []byte("plaintext password here, clearly not sealed at all")} {
		if _, err := secrets.ParseSealed(b); !errors.Is(err, secrets.ErrMalformed) {
			t.Errorf("ParseSealed(%q) = %v, want ErrMalformed", b, err)
		}
	}
	if s, err := secrets.ParseSealed(nil); err != nil || !s.IsZero() {
		t.Errorf("ParseSealed(nil) = %v, %v", s, err)
	}
}

func TestLoadKeyring(t *testing.T) {
	_, text := ring(t, "file1")
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	k, err := secrets.LoadKeyring(env(map[string]string{secrets.EnvKeysFile: path}))
	if err != nil || k.PrimaryID() != "file1" {
		t.Fatalf("LoadKeyring(file) = %v, %v", k, err)
	}
	k, err = secrets.LoadKeyring(env(map[string]string{secrets.EnvKeys: text}))
	if err != nil || k.PrimaryID() != "file1" {
		t.Fatalf("LoadKeyring(env) = %v, %v", k, err)
	}
	for name, m := range map[string]map[string]string{
		"both":    {secrets.EnvKeysFile: path, secrets.EnvKeys: text},
		"neither": {},
		"missing": {secrets.EnvKeysFile: path + ".missing"},
	} {
		if _, err := secrets.LoadKeyring(env(m)); err == nil {
			t.Errorf("LoadKeyring(%s) succeeded", name)
		}
	}
}
