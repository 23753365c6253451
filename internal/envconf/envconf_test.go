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
