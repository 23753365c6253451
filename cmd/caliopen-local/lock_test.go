package main

import (
	"io"
	"path/filepath"
	"testing"
)

// TestKeysFileConfig: the keyring's path comes from -keys-file or
// CALIOPEN_SECRETS_KEYS_FILE, apart from the data directory.
func TestKeysFileConfig(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "caliopen.keys")
	c, err := loadConfig(nil, func(k string) string {
		return map[string]string{"CALIOPEN_SECRETS_KEYS_FILE": keys}[k]
	}, io.Discard)
	if err != nil || c.KeysFile != keys {
		t.Errorf("from the environment: %q, %v", c.KeysFile, err)
	}
	c, err = loadConfig([]string{"-keys-file", "/k"}, func(string) string { return "" }, io.Discard)
	if err != nil || c.KeysFile != "/k" {
		t.Errorf("from the flag: %q, %v", c.KeysFile, err)
	}
}
