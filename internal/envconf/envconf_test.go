package envconf

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	env := map[string]string{"A": "1500ms", "B": "soon", "C": "  "}
	get := func(k string) string { return env[k] }
	d := time.Minute
	if err := Duration(get, "A", &d); err != nil || d != 1500*time.Millisecond {
		t.Errorf("A: %v %v", d, err)
	}
	d = time.Minute
	if err := Duration(get, "B", &d); err == nil || d != time.Minute {
		t.Errorf("B: %v %v, want an error and no change", d, err)
	}
	if err := Duration(get, "C", &d); err != nil || d != time.Minute {
		t.Errorf("C: %v %v, want no change", d, err)
	}
}

func TestDurations(t *testing.T) {
	env := map[string]string{"A": "2s", "B": "later", "C": "never"}
	var a, b, c time.Duration
	err := Durations(func(k string) string { return env[k] }, map[string]*time.Duration{"A": &a, "B": &b, "C": &c})
	if a != 2*time.Second || err == nil {
		t.Fatalf("a=%v err=%v", a, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "B:") || !strings.Contains(msg, "C:") || strings.Index(msg, "B:") > strings.Index(msg, "C:") {
		t.Errorf("error %q does not name B then C", msg)
	}
}

func TestIntAndList(t *testing.T) {
	env := map[string]string{"N": " 42 ", "BAD": "4x", "L": " a, ,b ,"}
	getenv := func(k string) string { return env[k] }
	n := 7
	if err := Int(getenv, "N", &n); err != nil || n != 42 {
		t.Errorf("Int(N) = %d, %v", n, err)
	}
	if err := Int(getenv, "BAD", &n); err == nil || n != 42 {
		t.Errorf("Int(BAD) = %d, %v; want an error and dst untouched", n, err)
	}
	if err := Int(getenv, "UNSET", &n); err != nil || n != 42 {
		t.Errorf("Int(UNSET) = %d, %v", n, err)
	}
	l := []string{"default"}
	if err := List(getenv, "L", &l); err != nil || len(l) != 2 || l[0] != "a" || l[1] != "b" {
		t.Errorf("List(L) = %q, %v", l, err)
	}
	if err := List(getenv, "UNSET", &l); err != nil || len(l) != 2 {
		t.Errorf("List(UNSET) = %q", l)
	}
}

func TestPositiveAndBool(t *testing.T) {
	env := map[string]string{"D0": "0s", "D": "2s", "N0": "0", "N": " 3 ", "NX": "x", "BIG": "9000000000",
		"T": "Yes", "F": "0", "BX": "maybe"}
	get := func(k string) string { return env[k] }
	for _, tt := range []struct {
		name string
		read func() error
		ok   bool
	}{
		{"D0", func() error { d := time.Minute; return PositiveDuration(get, "D0", &d) }, false},
		{"D", func() error {
			var d time.Duration
			err := PositiveDuration(get, "D", &d)
			return check(d == 2*time.Second, err)
		}, true},
		{"unset duration", func() error {
			d := time.Minute
			err := PositiveDuration(get, "NONE", &d)
			return check(d == time.Minute, err)
		}, true},
		{"N0", func() error { n := 5; return PositiveInt(get, "N0", &n) }, false},
		{"N", func() error { var n int; err := PositiveInt(get, "N", &n); return check(n == 3, err) }, true},
		{"NX", func() error { var n int64; return PositiveInt64(get, "NX", &n) }, false},
		{"BIG", func() error { var n int64; err := Int64(get, "BIG", &n); return check(n == 9000000000, err) }, true},
		{"T", func() error { var b bool; err := Bool(get, "T", &b); return check(b, err) }, true},
		{"F", func() error { b := true; err := Bool(get, "F", &b); return check(!b, err) }, true},
		{"unset bool", func() error { b := true; err := Bool(get, "NONE", &b); return check(b, err) }, true},
		{"BX", func() error { var b bool; return Bool(get, "BX", &b) }, false},
	} {
		err := tt.read()
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !tt.ok && !strings.Contains(err.Error(), tt.name) {
			t.Errorf("%s: error %q does not name the variable", tt.name, err)
		}
	}
}

// check turns a wrong value into an error.
func check(ok bool, err error) error {
	if err == nil && !ok {
		return errors.New("wrong value")
	}
	return err
}
