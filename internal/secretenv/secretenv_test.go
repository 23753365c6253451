package secretenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
