package deploy

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/invokeauth"
)

// TestStackInvokeKey: every function the connector invokes reads the
// invocation key from a secret it mounts (without it the function refuses
// to start); the HTTP functions, which authenticate their users themselves,
// do not need it.
func TestStackInvokeKey(t *testing.T) {
	s, err := ReadStack(filepath.Join(moduleRoot(t), "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range functions.All() {
		fn, ok := s.Functions[spec.Name]
		if !ok || spec.HTTP != nil {
			continue
		}
		if fn.Environment[invokeauth.EnvInsecure] != "" {
			t.Errorf("%s: %s is set in stack.yml", spec.Name, invokeauth.EnvInsecure)
		}
		file := fn.Environment[invokeauth.EnvKey+"_FILE"]
		secret, ok := strings.CutPrefix(file, "/var/openfaas/secrets/")
		if !ok || !slices.Contains(fn.Secrets, secret) {
			t.Errorf("%s: %s_FILE = %q, want /var/openfaas/secrets/<one of its secrets %v>", spec.Name, invokeauth.EnvKey, file, fn.Secrets)
		}
	}
}
