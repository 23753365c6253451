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
