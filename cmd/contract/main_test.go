package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/contract.md")

// TestDocTable keeps docs/contract.md in step with the table. It lives
// here, beside the command that writes the document, rather than in
// internal/contract: a function image's build runs the tests of
// internal/ in a context that holds no docs/.
func TestDocTable(t *testing.T) {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "contract.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(b.Bytes(), want) {
		t.Errorf("docs/contract.md is stale: run go test ./cmd/contract -update (or make docs)")
	}
}
