// Command contract prints Caliopen's NATS contract table as Markdown:
// docs/contract.md, which its test keeps in step (go test ./cmd/contract,
// or -update to rewrite it).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/caliopen/functions/internal/contract"
)

const header = "# The NATS contract\n\nGenerated from `internal/contract` by `go run ./cmd/contract` (checked by `go test ./cmd/contract`).\nRequired fields must be present and non-empty (minutes above 0); unknown fields are ignored.\n\n"

func main() {
	if err := write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "contract:", err)
		os.Exit(1)
	}
}

// write writes the document: its header, then the table.
func write(w io.Writer) error {
	if _, err := io.WriteString(w, header); err != nil {
		return err
	}
	return contract.Caliopen().WriteMarkdown(w)
}
