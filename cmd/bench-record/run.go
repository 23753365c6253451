package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caliopen/functions/internal/benchresult"
)

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-record", flag.ContinueOnError)
	figures := fs.String("figures", "", "the file of figures the benchmark commands appended to (required)")
	dir := fs.String("dir", "bench-results", "the folder of recorded results")
	page := fs.String("page", "docs/benchmarks.md", "the page whose tables are written from the result (empty: none)")
	note := fs.String("note", "", "a note kept with the result (what ran, on what)")
	partial := fs.Bool("partial", false, "only some of the benchmarks ran")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *figures == "" {
		return errors.New("-figures is required")
	}
	figs, err := benchresult.ReadFigures(*figures)
	if err != nil {
		return err
	}
	if len(figs) == 0 {
		return fmt.Errorf("%s holds no figures", *figures)
	}
	figs = lastOfEachKey(figs)
	commit, err := gitCommit()
	if err != nil {
		return err
	}
	cur := benchresult.Result{Commit: commit, Date: time.Now().UTC().Format(time.RFC3339), CPU: cpuModel(),
		Cores: runtime.NumCPU(), GoVersion: runtime.Version(), Partial: *partial, Note: *note, Figures: figs}
	priors, err := benchresult.Priors(*dir, cur.FileName())
	if err != nil {
		return err
	}
	path, err := benchresult.Write(*dir, cur)
	if err != nil {
		return err
	}
	compare(stdout, priors, cur)
	fmt.Fprintf(stdout, "recorded %s (commit it to keep it)\n", path)
	if *page == "" {
		return nil
	}
	if err := updatePage(*page, cur, path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the tables of %s from it\n", *page)
	return nil
}

// compare prints every figure of cur with its ratio beside the last
// recorded run's of its key, and REGRESSED where the ratio fell by more
// than benchresult.RegressionDrop.
func compare(w io.Writer, priors map[string]benchresult.Prior, cur benchresult.Result) {
	fmt.Fprintln(w, "\nratios against the last recorded run of each (bench-results/):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tratio\tbefore\tcommit\t")
	regressed := 0
	for _, f := range cur.Figures {
		before, commit, mark := "–", "–", ""
		if p, ok := priors[f.Key]; ok {
			before, commit = fmt.Sprintf("%.2f", p.Ratio), p.Commit
			if benchresult.Regressed(p.Figure, f) {
				mark = fmt.Sprintf("REGRESSED (%.0f %%)", 100*(f.Ratio/p.Ratio-1))
				regressed++
			}
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%s\n", f.Key, f.Ratio, before, commit, mark)
	}
	_ = tw.Flush()
	if regressed > 0 {
		fmt.Fprintf(w, "%d ratios REGRESSED by more than %.0f %%\n", regressed, 100*benchresult.RegressionDrop)
	}
}

// gitCommit is HEAD's short hash, with "-dirty" when the work tree has
// changes: such figures do not trace back to a commit alone.
func gitCommit() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse: %w", err)
	}
	commit := strings.TrimSpace(string(out))
	status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return "", fmt.Errorf("git status: %w", err)
	}
	if len(strings.TrimSpace(string(status))) > 0 {
		commit += "-dirty"
	}
	return commit, nil
}

// cpuModel is the first "model name" of /proc/cpuinfo, or the
// architecture where there is none.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

// lastOfEachKey keeps the last figure of each key (a benchmark that ran
// twice), in the order the keys first came.
func lastOfEachKey(figs []benchresult.Figure) []benchresult.Figure {
	last := benchresult.ByKey(figs)
	var out []benchresult.Figure
	for _, f := range figs {
		if g, ok := last[f.Key]; ok {
			out = append(out, g)
			delete(last, f.Key)
		}
	}
	return out
}
