// Command test-timing reads `go test -json` on its standard input, prints
// the tests' text output as `go test` would have printed it (a package's
// ok line, and the output of what failed; everything with -v), and at the
// end each package's time, slowest first, so that a slow suite shows where
// its time goes. scripts/test.sh pipes `make test` through it.
//
//	test-timing [-v] [-show PKG,PKG...]
//
// -show prints the whole output of those packages (import paths) as they
// run, passed or not: the tests whose logs are the proof a reader of CI's
// log wants (an image built, each faas-cli verb's own output).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

func main() {
	fs := flag.NewFlagSet("test-timing", flag.ExitOnError)
	verbose := fs.Bool("v", false, "print every test's output")
	show := fs.String("show", "", "comma-separated import paths whose output is printed whole")
	_ = fs.Parse(os.Args[1:])
	shown := strings.Split(*show, ",")
	if err := runShowing(os.Stdin, os.Stdout, func(pkg string) bool { return *verbose || slices.Contains(shown, pkg) }); err != nil {
		fmt.Fprintln(os.Stderr, "test-timing:", err)
		os.Exit(1)
	}
}

// event is the part of a test2json event read here.
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// pkgTime is one package's result.
type pkgTime struct {
	name    string
	action  string
	elapsed float64
}

func run(in io.Reader, out io.Writer, verbose bool) error {
	return runShowing(in, out, func(string) bool { return verbose })
}

// runShowing is run with the output of the packages show accepts printed
// whole.
func runShowing(in io.Reader, out io.Writer, show func(pkg string) bool) error {
	w := bufio.NewWriter(out)
	defer w.Flush()
	var pkgs []pkgTime
	// Output held until its test (or package) ends: printed when it
	// failed, dropped when it passed, unless verbose.
	held := map[[2]string][]string{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			// Not an event (go's own messages): passed through.
			fmt.Fprintln(w, sc.Text())
			continue
		}
		key := [2]string{e.Package, e.Test}
		switch e.Action {
		case "build-output":
			w.WriteString(e.Output)
		case "output":
			if show(e.Package) {
				w.WriteString(e.Output)
			} else {
				held[key] = append(held[key], e.Output)
			}
		case "pass", "fail", "skip":
			lines := held[key]
			delete(held, key)
			switch {
			case e.Action == "fail":
				for _, l := range lines {
					w.WriteString(l)
				}
			case e.Test == "" && len(lines) > 0:
				w.WriteString(lines[len(lines)-1]) // ok, or ? for no test files
			}
			if e.Test == "" && e.Package != "" {
				pkgs = append(pkgs, pkgTime{name: e.Package, action: e.Action, elapsed: e.Elapsed})
			}
		}
		if e.Action != "output" {
			w.Flush() // a finished package shows at once
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	report(w, pkgs)
	return nil
}

// report prints the packages' times, slowest first, and their sum.
func report(w io.Writer, pkgs []pkgTime) {
	if len(pkgs) == 0 {
		return
	}
	slices.SortStableFunc(pkgs, func(a, b pkgTime) int {
		switch {
		case a.elapsed > b.elapsed:
			return -1
		case a.elapsed < b.elapsed:
			return 1
		}
		return 0
	})
	var sum float64
	for _, p := range pkgs {
		sum += p.elapsed
	}
	fmt.Fprintf(w, "\ntime per package (go test -json), slowest first; %d packages, %.1fs in all (they overlap):\n", len(pkgs), sum)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, p := range pkgs {
		if p.elapsed < 1 && p.action != "fail" {
			continue
		}
		fmt.Fprintf(tw, "%.1fs\t%s\t %s\n", p.elapsed, p.action, p.name)
	}
	tw.Flush()
	fmt.Fprintln(w, "(packages under a second left out)")
}
