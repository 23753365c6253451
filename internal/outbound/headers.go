package outbound

import (
	"io"
	"net/mail"
	"strings"
)

// headerWriter writes header fields with CRLF endings.
type headerWriter struct{ w io.Writer }

// add writes one field.
func (h headerWriter) add(name, value string) {
	_, _ = io.WriteString(h.w, name+": "+value+"\r\n")
}

// addList writes an address list on folded lines, if it is not empty.
func (h headerWriter) addList(name string, as []*mail.Address) {
	if len(as) == 0 {
		return
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	h.add(name, strings.Join(s, ",\r\n "))
}

// addRefs writes References, one id per folded line.
func (h headerWriter) addRefs(ids []string) {
	var s []string
	for _, id := range ids {
		if strings.TrimSpace(id) != "" {
			s = append(s, angle(id))
		}
	}
	if len(s) > 0 {
		h.add("References", strings.Join(s, "\r\n "))
	}
}
