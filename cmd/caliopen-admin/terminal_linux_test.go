package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/caliopen/functions/internal/peertest"
)

// TestCreateUserTerminal types the password on a real pseudo-terminal: it
// is asked for twice, and the terminal does not echo it.
func TestCreateUserTerminal(t *testing.T) {
	for _, tc := range []struct {
		name, first, second, want string
	}{
		{"matching", "terminal-password", "terminal-password", ""},
		{"differing", "terminal-password", "another-password", "differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				peertest.Missing(t, "no pseudo-terminal: %v", err)
			}
			defer ptmx.Close()
			defer tty.Close()
			ttyFD := int(tty.Fd())
			seen := make(chan string, 1)
			go func() {
				var all []byte
				buf := make([]byte, 256)
				sent := 0
				for {
					n, err := ptmx.Read(buf)
					all = append(all, buf[:n]...)
					// Answer each prompt once it shows and the reader
					// has turned echo off (as a person typing would,
					// some time after the prompt); a terminal left
					// echoing shows the password below.
					if sent == 0 && bytes.Contains(all, []byte("password: ")) {
						echoOff(ttyFD)
						ptmx.Write([]byte(tc.first + "\n"))
						sent++
					}
					if sent == 1 && bytes.Contains(all, []byte("password again: ")) {
						echoOff(ttyFD)
						ptmx.Write([]byte(tc.second + "\n"))
						sent++
					}
					if err != nil {
						seen <- string(all)
						return
					}
				}
			}()
			var out bytes.Buffer
			getenv := env(map[string]string{"API_BCRYPT_COST": "4"})
			err = run(context.Background(), []string{"create-user", "-name", "dora", "-data", t.TempDir()}, getenv, tty, &out, tty)
			tty.Close()
			terminal := <-seen
			if tc.want == "" && err != nil {
				t.Fatalf("run: %v (terminal %q)", err, terminal)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("run = %v, want an error with %q", err, tc.want)
			}
			if tc.want == "" && !strings.Contains(out.String(), "created user dora") {
				t.Errorf("output %q", out.String())
			}
			if strings.Contains(terminal, "password") && strings.Contains(terminal, tc.first) {
				t.Errorf("the terminal echoed the password: %q", terminal)
			}
			if !strings.Contains(terminal, "password again: ") {
				t.Errorf("terminal %q lacks the second prompt", terminal)
			}
		})
	}
}

// echoOff waits up to a second for the terminal's echo to be turned off.
func echoOff(fd int) {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil || t.Lflag&unix.ECHO == 0 {
			return
		}
	}
}
