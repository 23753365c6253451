package prompt

import (
	"io"
	"strings"
	"testing"
)

// TestPasswordFromStdin: not a terminal, the password is the first line
// of standard input without its line ending; none is an error.
func TestPasswordFromStdin(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"s3cret passphrase\n", "s3cret passphrase", ""},
		{"s3cret\r\nsecond line\n", "s3cret", ""},
		{"no newline", "no newline", ""},
		{"", "", "no password on standard input"},
		{"\nlater\n", "", "no password on standard input"},
	} {
		got, err := Password(strings.NewReader(tc.in), io.Discard, true)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Password(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}
