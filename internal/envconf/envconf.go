// Package envconf reads typed settings from the environment. Each reader
// leaves its destination alone when the variable is unset or blank, and
// returns an error naming the variable when the value does not parse, so
// callers can collect every problem and report them at once.
package envconf

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// Durations reads each named duration into its destination and reports
// every problem, in the order of the names.
func Durations(getenv func(string) string, dsts map[string]*time.Duration) error {
	names := make([]string, 0, len(dsts))
	for name := range dsts {
		names = append(names, name)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		errs = append(errs, Duration(getenv, name, dsts[name]))
	}
	return errors.Join(errs...)
}

// Int reads a decimal integer into dst.
func Int(getenv func(string) string, name string, dst *int) error {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%s: want an integer, got %q", name, v)
	}
	*dst = n
	return nil
}

// List reads a comma-separated list into dst, its items trimmed and the
// empty ones dropped.
func List(getenv func(string) string, name string, dst *[]string) error {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return nil
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	*dst = out
	return nil
}
