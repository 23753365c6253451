package benchresult

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppendFindLatest(t *testing.T) {
	dir := t.TempDir()
	figs := filepath.Join(dir, "figs")
	if err := Append("", Higher("a/b", "x", 1, 2, "u", "base")); err != nil {
		t.Errorf("Append to no file: %v", err)
	}
	imap := Higher(IMAPFullSync, "sync", 3, 2, "msg/s", "mbsync")
	imap.Extra = map[string]float64{CPUPerMessage: 0.7}
	if err := Append(figs, imap); err != nil {
		t.Fatal(err)
	}
	if err := Append(figs, Lower("dm/cpu", "dm", 0.5, 0.7, "ms", "imap")); err != nil {
		t.Fatal(err)
	}
	got, err := Find(figs, IMAPFullSync)
	if err != nil || got.Extra[CPUPerMessage] != 0.7 || got.Ratio != 1.5 {
		t.Errorf("Find = %+v, %v", got, err)
	}
	if _, err := Find(figs, "missing/figure"); err == nil || !strings.Contains(err.Error(), `no figure "missing/figure"`) {
		t.Errorf("Find of a missing figure: %v", err)
	}
	if err := Append(figs, Higher("a/nan", "x", 1, 0, "u", "base")); err == nil {
		t.Error("a ratio of +Inf was recorded")
	}
	if err := Append(figs, Figure{Key: "a/c", Value: math.NaN()}); err == nil {
		t.Error("a figure without title and baseline was recorded")
	}

	results := filepath.Join(dir, "results")
	if _, _, ok, err := Latest(results, ""); ok || err != nil {
		t.Errorf("Latest of no folder: ok %v, %v", ok, err)
	}
	all, _ := ReadFigures(figs)
	first := Result{Commit: "aaa", Date: "2026-12-07T10:00:00Z", Figures: all}
	second := Result{Commit: "bbb", Date: "2026-12-07T11:00:00Z", Figures: all[:1]}
	for _, r := range []Result{second, first} {
		if _, err := Write(results, r); err != nil {
			t.Fatal(err)
		}
	}
	r, name, ok, err := Latest(results, "")
	if err != nil || !ok || r.Commit != "bbb" || name != second.FileName() {
		t.Errorf("Latest = %s %s %v %v, want bbb's", r.Commit, name, ok, err)
	}
	if r, _, _, _ := Latest(results, second.FileName()); r.Commit != "aaa" {
		t.Errorf("Latest skipping bbb = %s, want aaa", r.Commit)
	}
	priors, err := Priors(results, "")
	if err != nil || priors[IMAPFullSync].Commit != "bbb" || priors["dm/cpu"].Commit != "aaa" {
		t.Errorf("Priors = %+v, %v: want imap from bbb, dm from aaa (the newest holding each)", priors, err)
	}
}

func TestSlug(t *testing.T) {
	if got := Slug("dovecot-lmtpd (LMTP → Maildir)"); got != "dovecot-lmtpd-lmtp-maildir" {
		t.Errorf("Slug = %q", got)
	}
}
