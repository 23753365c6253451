package procs

import (
	"runtime"
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
