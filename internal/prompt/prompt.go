// Package prompt reads a secret for a command-line tool: from the terminal
// without echo when standard input is one, otherwise as the first line of
// standard input (so that scripts can pipe it). A secret is never a flag.
package prompt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Password returns the password: asked for on the terminal (prompts on
// stderr, twice when confirm is set) when stdin is a terminal, otherwise
// the first line of stdin without its line ending. It never returns an
// empty password.
func Password(stdin io.Reader, stderr io.Writer, confirm bool) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return fromTerminal(int(f.Fd()), stderr, confirm)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input (its first line is the password)")
	}
	return line, nil
}

// fromTerminal reads the password from terminal fd with echo off.
func fromTerminal(fd int, stderr io.Writer, confirm bool) (string, error) {
	prompts := []string{"password: "}
	if confirm {
		prompts = append(prompts, "password again: ")
	}
	var got []string
	for _, p := range prompts {
		fmt.Fprint(stderr, p)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read the password from the terminal: %w", err)
		}
		got = append(got, string(b))
	}
	switch {
	case got[0] == "":
		return "", errors.New("no password given")
	case confirm && got[0] != got[1]:
		return "", errors.New("the two passwords differ")
	}
	return got[0], nil
}
