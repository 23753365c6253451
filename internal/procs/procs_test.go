package procs

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestForFileIO(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) })
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOMAXPROCS" {
				return v
			}
			return ""
		}
	}
	cases := []struct {
		name  string
		env   string
		local bool
		want  int
	}{
		{"network store and blobs", "", false, def},
		{"set by the environment", "3", true, def},
		{"local files", "", true, 2 * def},
		{"local files, again", "", true, 2 * def},
	}
	for _, c := range cases {
		if c.name != "local files, again" {
			runtime.GOMAXPROCS(def)
		}
		got := ForFileIO(env(c.env), c.local)
		if got != c.want || runtime.GOMAXPROCS(0) != c.want {
			t.Errorf("%s: ForFileIO = %d, GOMAXPROCS %d; want %d", c.name, got, runtime.GOMAXPROCS(0), c.want)
		}
	}
}

func TestForWholeSystem(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	none := func(string) string { return "" }
	if got, now := ForWholeSystem(none), debug.SetGCPercent(100); got != LocalGCPercent || now != LocalGCPercent {
		t.Errorf("ForWholeSystem = %d, GC percent %d; want %d", got, now, LocalGCPercent)
	}
	// GOGC in the environment: the runtime applied it; it is left alone.
	debug.SetGCPercent(50)
	gogc := func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	}
	if got, now := ForWholeSystem(gogc), debug.SetGCPercent(100); got != 50 || now != 50 {
		t.Errorf("with GOGC=50: ForWholeSystem = %d, GC percent %d; want 50", got, now)
	}
}
