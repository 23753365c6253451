// Package envconf reads typed settings from the environment. Each reader
// leaves its destination alone when the variable is unset or blank, and
// returns an error naming the variable when the value does not parse, so
// callers can collect every problem and report them at once.
package envconf

import (
	"fmt"
	"strings"
	"time"
)

// Duration reads a Go duration such as 30s into dst.
func Duration(getenv func(string) string, name string, dst *time.Duration) error {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s: want a duration such as 30s, got %q", name, v)
	}
	*dst = d
	return nil
}
