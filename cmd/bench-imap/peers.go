package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/imapsync/imaptest"
)

// dovecot is the private Dovecot the run drains.
type dovecot struct {
	addr, port, user, pass string
}

// script runs a peer script and returns the variables it exports.
func script(ctx context.Context, path string, args ...string) (map[string]string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", append([]string{path}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", filepath.Base(path), err, stderr.String())
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
			env[k] = strings.Trim(v, `'"`)
		}
	}
	return env, nil
}

// startDovecot starts scripts/test-peers/dovecot-imap.sh in dir and returns
// a function that stops it.
func startDovecot(ctx context.Context, scripts, dir string) (dovecot, func(), error) {
	env, err := script(ctx, filepath.Join(scripts, "dovecot-imap.sh"), dir, "bench", "bench-secret")
	if err != nil {
		return dovecot{}, nil, err
	}
	pid := env["CALIOPEN_TEST_DOVECOT_IMAP_PID"]
	stop := func() { _ = exec.Command("bash", filepath.Join(scripts, "stop.sh"), pid).Run() }
	d := dovecot{addr: env["CALIOPEN_TEST_DOVECOT_IMAP_ADDR"], user: env["CALIOPEN_TEST_DOVECOT_IMAP_USER"],
		pass: env["CALIOPEN_TEST_DOVECOT_IMAP_PASS"]}
	_, d.port, _ = strings.Cut(d.addr, ":")
	if d.addr == "" || pid == "" {
		stop()
		return dovecot{}, nil, fmt.Errorf("dovecot-imap.sh printed no address")
	}
	return d, stop, nil
}

// load appends o.mails messages of o.size bytes, distinct Message-IDs.
func load(d dovecot, o options) error {
	c, err := imaptest.Dial(d.addr, d.user, d.pass)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	const chunk = 500
	for i := 0; i < o.mails; i += chunk {
		var msgs [][]byte
		for j := i; j < min(i+chunk, o.mails); j++ {
			msgs = append(msgs, mail(j, o.size))
		}
		if err := c.Append(msgs...); err != nil {
			return err
		}
	}
	return nil
}

// mail is benchmark message i, size bytes long.
func mail(i, size int) []byte {
	head := fmt.Sprintf("From: Bob <bob@remote.example>\r\nTo: bench@remote.example\r\nSubject: bench %d\r\n"+
		"Message-ID: <bench-%d@remote.example>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\n", i, i)
	line := "the quick brown fox jumps over the lazy dog, message " + strconv.Itoa(i) + "\r\n"
	body := strings.Repeat(line, size/len(line)+1)
	return []byte(head + body[:max(size-len(head), 0)])
}

// mbsync pulls the mailbox with scripts/test-peers/mbsync.sh.
func mbsync(ctx context.Context, o options, d dovecot, dir, fsync string) (row, error) {
	env, err := script(ctx, filepath.Join(o.scripts, "mbsync.sh"), d.port, d.user, d.pass, dir, fsync)
	if err != nil {
		return row{}, err
	}
	n, _ := strconv.Atoi(env["CALIOPEN_MBSYNC_MSGS"])
	secs, err := strconv.ParseFloat(env["CALIOPEN_MBSYNC_SECONDS"], 64)
	if err != nil || n != o.mails {
		return row{}, fmt.Errorf("mbsync (FSync %s) pulled %d of %d messages (%v)", fsync, n, o.mails, err)
	}
	return row{name: "mbsync (isync), FSync " + fsync, mails: n, elapsed: time.Duration(secs * float64(time.Second)),
		checked: fmt.Sprintf("%d files in the Maildir", n), fsyncOn: fsync == "yes"}, nil
}
