package envconf

import (
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
