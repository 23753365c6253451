// Command generate writes the deployment files the function registry
// (functions.All) and the contract determine: stack.yml's entries, the
// NATS users of infra/k8s/base/nats.yaml and their passwords in
// secrets.yaml, and infra/knative's Services and topic map (package
// deploy, Generate). `make generate` runs it at the repository's root;
// `go test ./deploy` fails while a file is out of date.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/caliopen/functions/deploy"
	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/contract"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	flag.Parse()
	if err := run(*root, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

// run writes the generated files under root that differ from what the
// registry and the contract generate, and names each on w.
func run(root string, w io.Writer) error {
	files, err := deploy.Generate(root, functions.All(), contract.Caliopen())
	if err != nil {
		return err
	}
	wrote := 0
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		name := filepath.Join(root, filepath.FromSlash(rel))
		old, err := os.ReadFile(name)
		if err == nil && bytes.Equal(old, files[rel]) {
			continue
		}
		if err := os.WriteFile(name, files[rel], 0o644); err != nil {
			return err
		}
		wrote++
		fmt.Fprintf(w, "generate: wrote %s\n", rel)
	}
	fmt.Fprintf(w, "generate: %d of %d files changed\n", wrote, len(files))
	return nil
}
