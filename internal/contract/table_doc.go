package contract

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the contract as Markdown: one table of subjects (subject,
// queue group, mode, orders, function, deadline) and one of orders with their
// payload fields, emitters and replies.
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
