// Package secretenv reads a setting that may be secret: from the variable
// NAME, or from the file named by NAME_FILE (an OpenFaaS or Kubernetes secret
// mounted as a file), which wins. File contents are trimmed of surrounding
// white space.
package secretenv

import (
	"fmt"
	"os"
	"strings"
)

// Value returns the setting name and whether it was set.
func Value(getenv func(string) string, name string) (string, error) {
	if f := strings.TrimSpace(getenv(name + "_FILE")); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return getenv(name), nil
}
