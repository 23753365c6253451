package cpuprof

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStart(t *testing.T) {
	stop, err := Start("")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	path := filepath.Join(t.TempDir(), "cpu.out")
	if stop, err = Start(path); err != nil {
		t.Fatal(err)
	}
	stop()
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("profile %s: %v", path, err)
	}
	if _, err := Start(filepath.Join(t.TempDir(), "missing", "cpu.out")); err == nil {
		t.Error("a profile in a missing directory was accepted")
	}
}
