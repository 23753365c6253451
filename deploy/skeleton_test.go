package deploy

import (
	"os/exec"
	"testing"
)

// TestSkeleton vets and tests the function to copy (functions/_skeleton),
// which ./... leaves out, so that it stays a working function.
func TestSkeleton(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	root := moduleRoot(t)
	for _, args := range [][]string{{"vet", "./functions/_skeleton"}, {"test", "-count=1", "./functions/_skeleton"}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %v: %v\n%s", args, err, out)
		}
	}
}
