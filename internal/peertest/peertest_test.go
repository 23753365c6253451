package peertest

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissing runs itself as a child, with and without CI=true, and checks
// that a missing peer skips the child's test, or fails it under CI=true.
func TestMissing(t *testing.T) {
	if os.Getenv("PEERTEST_CHILD") == "1" {
		Env(t, "PEERTEST_UNSET_VARIABLE", "set it")
		t.Fatal("Env returned for an unset variable")
	}
	t.Parallel()
	for _, tc := range []struct {
		ci       string
		wantFail bool
		want     string
	}{
		{"", false, "--- SKIP"},
		{"false", false, "--- SKIP"},
		{"true", true, "--- FAIL"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "PEERTEST_CHILD=1", "CI="+tc.ci, "PEERTEST_UNSET_VARIABLE=")
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantFail || !strings.Contains(string(out), tc.want) {
			t.Errorf("CI=%q: err %v, output lacks %q:\n%s", tc.ci, err, tc.want, out)
		}
		if !strings.Contains(string(out), "PEERTEST_UNSET_VARIABLE is not set: set it") {
			t.Errorf("CI=%q: the message does not name the variable and the hint:\n%s", tc.ci, out)
		}
	}
}

func TestTool(t *testing.T) {
	t.Parallel()
	if p := Tool(t, "sh", "it is POSIX"); !strings.HasSuffix(p, "/sh") {
		t.Errorf("Tool(sh) = %q", p)
	}
}

// TestOnlyDecider checks that no other Go file reads CI: a missing peer is
// decided here alone.
func TestOnlyDecider(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || filepath.Dir(path) == filepath.Join(root, "internal", "peertest") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(`Getenv("CI")`)) || bytes.Contains(b, []byte(`LookupEnv("CI")`)) {
			t.Errorf("%s reads CI itself: use peertest.Missing, Env or Tool", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
