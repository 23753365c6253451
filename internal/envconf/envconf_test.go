package envconf

import (
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
