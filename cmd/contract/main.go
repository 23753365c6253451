// Command contract prints Caliopen's NATS contract table as Markdown.
package main

import (
	"fmt"
	"os"

	"github.com/caliopen/functions/internal/contract"
)

func main() {
	if err := contract.Caliopen().WriteMarkdown(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "contract:", err)
		os.Exit(1)
	}
}
