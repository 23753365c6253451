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

// PositiveDuration reads a duration above zero into dst.
func PositiveDuration(getenv func(string) string, name string, dst *time.Duration) error {
	d := *dst
	if err := Duration(getenv, name, &d); err != nil {
		return err
	}
	if d <= 0 && strings.TrimSpace(getenv(name)) != "" {
		return fmt.Errorf("%s: want a positive duration such as 30s, got %q", name, strings.TrimSpace(getenv(name)))
	}
	*dst = d
	return nil
}

// Int64 reads a decimal integer into dst.
func Int64(getenv func(string) string, name string, dst *int64) error {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: want an integer, got %q", name, v)
	}
	*dst = n
	return nil
}

// PositiveInt reads a whole number of at least 1 into dst.
func PositiveInt(getenv func(string) string, name string, dst *int) error {
	n := int64(*dst)
	if err := PositiveInt64(getenv, name, &n); err != nil {
		return err
	}
	*dst = int(n)
	return nil
}

// PositiveInt64 reads a whole number of at least 1 into dst.
func PositiveInt64(getenv func(string) string, name string, dst *int64) error {
	n := *dst
	if err := Int64(getenv, name, &n); err != nil {
		return err
	}
	if n < 1 && strings.TrimSpace(getenv(name)) != "" {
		return fmt.Errorf("%s: want a whole number of at least 1, got %q", name, strings.TrimSpace(getenv(name)))
	}
	*dst = n
	return nil
}

// Bool reads true (true, 1, yes) or false (false, 0, no) into dst.
func Bool(getenv func(string) string, name string, dst *bool) error {
	switch v := strings.ToLower(strings.TrimSpace(getenv(name))); v {
	case "":
	case "true", "1", "yes":
		*dst = true
	case "false", "0", "no":
		*dst = false
	default:
		return fmt.Errorf("%s: want true or false, got %q", name, v)
	}
	return nil
}
