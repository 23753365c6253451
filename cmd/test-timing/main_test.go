package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRealGoTest runs go test -json on a package of this module and checks
// that the text and the time table come out.
func TestRealGoTest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	t.Parallel()
	cmd := exec.Command("go", "test", "-json", "-count=1", "-run=TestMissing", "../../internal/peertest")
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := run(outp, &b, false); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go test: %v\n%s", err, b.String())
	}
	got := b.String()
	for _, want := range []string{"ok  \tgithub.com/caliopen/functions/internal/peertest", "time per package (go test -json)"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	in := `{"Action":"output","Package":"a","Output":"ok  \ta\t2.0s\n"}
{"Action":"pass","Package":"a","Elapsed":2.0}
{"Action":"pass","Package":"b","Test":"TestX","Elapsed":9}
{"Action":"fail","Package":"b","Elapsed":5.5}
{"Action":"pass","Package":"c","Elapsed":0.2}
go: a line that is not an event
`
	var b strings.Builder
	if err := run(strings.NewReader(in), &b, true); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if !strings.Contains(got, "ok  \ta\t2.0s\n") || !strings.Contains(got, "go: a line that is not an event") {
		t.Errorf("the text output is not passed through:\n%s", got)
	}
	i, j := strings.Index(got, " b\n"), strings.Index(got, " a\n")
	if i < 0 || j < 0 || i > j || strings.Contains(got, " c\n") || !strings.Contains(got, "fail") {
		t.Errorf("want b (5.5s, fail) before a (2.0s), c left out:\n%s", got)
	}
}

// TestQuiet: without -v, a passing test's output is dropped, a failing
// one's printed, and a package's last line kept.
func TestQuiet(t *testing.T) {
	t.Parallel()
	in := `{"Action":"output","Package":"a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"a","Test":"TestOK","Output":"    a log line of a passing test\n"}
{"Action":"pass","Package":"a","Test":"TestOK"}
{"Action":"output","Package":"a","Test":"TestBad","Output":"    bad_test.go:9: the failure\n"}
{"Action":"fail","Package":"a","Test":"TestBad"}
{"Action":"output","Package":"a","Output":"FAIL\n"}
{"Action":"output","Package":"a","Output":"FAIL\ta\t0.1s\n"}
{"Action":"fail","Package":"a","Elapsed":0.1}
{"Action":"output","Package":"b","Output":"PASS\n"}
{"Action":"output","Package":"b","Output":"ok  \tb\t0.1s\n"}
{"Action":"pass","Package":"b","Elapsed":0.1}
`
	var b strings.Builder
	if err := run(strings.NewReader(in), &b, false); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{"bad_test.go:9: the failure\n", "FAIL\ta\t0.1s\n", "ok  \tb\t0.1s\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "passing test") || strings.Contains(got, "PASS\n") {
		t.Errorf("a passing test's output is printed:\n%s", got)
	}
}

// TestShow: the shown package's passing tests print their logs whole; the
// others' stay quiet.
func TestShow(t *testing.T) {
	t.Parallel()
	in := `{"Action":"output","Package":"a","Test":"TestOK","Output":"    a's proof\n"}
{"Action":"pass","Package":"a","Test":"TestOK"}
{"Action":"output","Package":"b","Test":"TestOK","Output":"    b's chatter\n"}
{"Action":"pass","Package":"b","Test":"TestOK"}
`
	var b strings.Builder
	if err := runShowing(strings.NewReader(in), &b, func(pkg string) bool { return pkg == "a" }); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "a's proof") || strings.Contains(got, "b's chatter") {
		t.Errorf("shown a, got:\n%s", got)
	}
}
