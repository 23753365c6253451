package cpuprof

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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

func TestUsedGrows(t *testing.T) {
	before := Used()
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	if got := Used() - before; got <= 0 {
		t.Fatalf("50 ms of busy loop used %v of CPU", got)
	}
}

func TestTimesSystemGrows(t *testing.T) {
	dir := t.TempDir()
	_, before := Times()
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(dir, "f"))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if _, now := Times(); now > before {
			return
		}
		if i == 1_000_000 {
			t.Fatal("a million file creations used no system time")
		}
	}
}
