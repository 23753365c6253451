package secretenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/secretenv/secretenvtest"
)

func TestValue(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dsn")
	os.WriteFile(file, []byte("postgres://u:p@db/caliopen\n"), 0o600)
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"unset", nil, "", ""},
		{"variable", map[string]string{"X": "plain"}, "plain", ""},
		{"file wins", map[string]string{"X": "plain", "X_FILE": file}, "postgres://u:p@db/caliopen", ""},
		{"missing file", map[string]string{"X_FILE": file + ".nope"}, "", "X_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Value(func(k string) string { return tt.env[k] }, "X")
			if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Value = %q, %v; want %q, error containing %q", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestReadFileLayouts(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "caliopen-store-dsn")
	os.WriteFile(plain, []byte("sqlite:///a.db\n"), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, maxSecret+1), 0o600)
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr string
	}{
		{name: "OpenFaaS file", path: plain, want: "sqlite:///a.db\n"},
		{name: "volume, key named like the secret", path: secretenvtest.Volume(t, filepath.Join(dir, "k8s"), "caliopen-store-dsn",
			map[string]string{"caliopen-store-dsn": "sqlite:///b.db", "other": "x"}), want: "sqlite:///b.db"},
		{name: "volume with one key", path: secretenvtest.Volume(t, filepath.Join(dir, "one"), "caliopen-keys",
			map[string]string{"keys": "k1:abc"}), want: "k1:abc"},
		{name: "volume with two other keys", path: secretenvtest.Volume(t, filepath.Join(dir, "two"), "caliopen-keys",
			map[string]string{"a": "1", "b": "2"}), wantErr: "keys a, b: want one, or one named caliopen-keys"},
		{name: "empty volume", path: secretenvtest.Volume(t, filepath.Join(dir, "none"), "s", nil), wantErr: "without a key"},
		{name: "missing", path: filepath.Join(dir, "absent"), wantErr: "no such file"},
		{name: "too big", path: big, wantErr: "more than a secret's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFile(tt.path)
			if string(got) != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("ReadFile = %q, %v; want %q, error containing %q", got, err, tt.want, tt.wantErr)
			}
		})
	}
	got, err := Value(func(k string) string {
		if k == "X_FILE" {
			return filepath.Join(dir, "k8s", "caliopen-store-dsn")
		}
		return ""
	}, "X")
	if got != "sqlite:///b.db" || err != nil {
		t.Errorf("Value(X_FILE=<volume>) = %q, %v", got, err)
	}
}
