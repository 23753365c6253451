package contract

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the contract as Markdown: one table of subjects (subject,
// queue group, mode, orders, function, deadline), one of orders with their
// payload fields, emitters and replies, and the aliases decoding accepts for
// orders and fields.
func (c *Contract) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| subject | queue group | mode | orders | function | requester deadline |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, s := range c.Subjects {
		deadline := "–"
		if s.HasRequests() {
			deadline = s.Deadline.String()
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | `%s` | %s |\n",
			s.Name, s.Queue, s.Mode(), code(s.OrderNames()), s.Function, deadline)
	}
	b.WriteString("\n| subject | order | mode | payload | fields (required in bold) | reply | seed handler | emitted by |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, s := range c.Subjects {
		for _, o := range s.Orders {
			req := map[string]bool{}
			for _, r := range o.Required {
				req[r] = true
			}
			var fields []string
			for _, f := range o.Payload.Fields {
				name := "`" + f.Name + "`"
				if req[f.Name] {
					name = "**" + name + "**"
				}
				fields = append(fields, name)
			}
			reply := "–"
			if o.Mode == RequestReply {
				reply = string(o.Reply)
			}
			handler := o.Handler
			if o.Extra {
				handler = "none in the seed (handled anyway)"
			}
			var emitters []string
			for _, e := range o.Emitters {
				emitters = append(emitters, e.Service+" "+e.Function)
			}
			em := strings.Join(emitters, "; ")
			if em == "" {
				em = "–"
			}
			fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s | %s | %s | %s |\n",
				s.Name, o.Name, o.Mode, o.Payload.Name, strings.Join(fields, ", "), reply, handler, em)
		}
	}
	b.WriteString("\n## The original Caliopen's forms\n\n")
	b.WriteString("Decoding also accepts the names the original Caliopen code really sent, and gives the order its\n")
	b.WriteString("seed name and the payload its seed fields; what is emitted is always the seed's form. A field\n")
	b.WriteString("given under two of its names with different values is refused (`invalid_field`). The byte forms\n")
	b.WriteString("and the source each comes from are in `internal/contract/testdata/original`.\n\n")
	b.WriteString("| subject | order | also accepted as |\n| --- | --- | --- |\n")
	for _, s := range c.Subjects {
		for _, o := range s.Orders {
			if len(o.Aliases) > 0 {
				fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", s.Name, o.Name, code(o.Aliases))
			}
		}
	}
	b.WriteString("\n| payload | field | also accepted as |\n| --- | --- | --- |\n")
	for _, p := range c.Payloads {
		for _, f := range p.Fields {
			if len(f.Aliases) > 0 {
				fmt.Fprintf(&b, "| %s | `%s` | %s |\n", p.Name, f.Name, code(f.Aliases))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func code(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "`" + n + "`"
	}
	return strings.Join(out, ", ")
}
