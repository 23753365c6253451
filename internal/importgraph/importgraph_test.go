package importgraph

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/caliopen/functions/"

// rank is a package's layer (higher imports lower), and ok false for a
// package outside the module.
func rank(pkg string) (int, bool) {
	p, ok := strings.CutPrefix(pkg, module)
	if !ok {
		return 0, false
	}
	switch top, _, _ := strings.Cut(p, "/"); {
	case top == "internal":
		return 0, true
	case top == "connector":
		return 1, true
	case top == "functions" && p != "functions":
		return 2, true
	case p == "functions":
		return 3, true
	case top == "system":
		return 4, true
	default: // cmd, systest, deploy
		return 5, true
	}
}

// allowed says whether from may import to.
func allowed(from, to string) bool {
	rf, _ := rank(from)
	rt, ok := rank(to)
	switch {
	case !ok || from == to:
		return true
	case rt > rf:
		return false
	case rf == 2 && rt == 2 && !strings.HasPrefix(to, from+"/"):
		return false // a function reaches another only through the registry
	case rf == 1 && rt == 1:
		return true
	case strings.HasPrefix(from, module+"cmd/") && strings.HasPrefix(to, module+"systest"):
		return false
	}
	return true
}

func TestRules(t *testing.T) {
	for _, tt := range []struct {
		from, to string
		want     bool
	}{
		{"internal/store", "internal/blob", true},
		{"internal/deploy", "functions", false},
		{"internal/outbound", "connector", false},
		{"internal/x", "systest/outboundsys", false},
		{"connector", "functions/api", false},
		{"functions/api", "internal/store", true},
		{"functions/twitter-dm", "functions/inbound-twitter", false},
		{"functions/api", "cmd/caliopen", false},
		{"functions", "functions/api", true},
		{"system", "functions", true},
		{"system", "systest/outboundsys", false},
		// The NATS users: the table below both, never deploy's.
		{"system", "deploy", false},
		{"system", "internal/natsusers", true},
		{"deploy", "internal/natsusers", true},
		{"cmd/caliopen-local", "system", true},
		{"cmd/bench-imap", "systest/listenertest", false},
		{"systest/outboundsys", "system", true},
		{"deploy", "functions", true},
		{"internal/store", "github.com/nats-io/nats.go", true},
	} {
		to := tt.to
		if first, _, _ := strings.Cut(to, "/"); !strings.Contains(first, ".") {
			to = module + to
		}
		if got := allowed(module+tt.from, to); got != tt.want {
			t.Errorf("allowed(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

// TestImportsGoDown lists every package of the module with what it and
// its tests import, and names each import that goes up a layer.
func TestImportsGoDown(t *testing.T) {
	cmd := exec.Command("go", "list", "-f",
		`{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, module+"...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		n++
		from := fields[0]
		for _, to := range fields[1:] {
			if !allowed(from, to) {
				t.Errorf("%s imports %s, a layer above it or beside it (package importgraph states the layers)",
					strings.TrimPrefix(from, module), strings.TrimPrefix(to, module))
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list named %d packages; expected the module's", n)
	}
}
