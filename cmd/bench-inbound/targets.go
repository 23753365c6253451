package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/natsusers"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/system/systemtest"
)

// smtpSource runs smtp-source against addr and returns the elapsed time.
func smtpSource(ctx context.Context, o options, addr, to string, lmtp bool) (time.Duration, error) {
	args := []string{"-s", strconv.Itoa(o.sessions), "-m", strconv.Itoa(o.mails), "-l", strconv.Itoa(o.size),
		"-f", "bench@sender.example", "-t", to, "-M", "sender.example"}
	if lmtp {
		args = append([]string{"-L"}, args...)
	}
	cmd := exec.CommandContext(ctx, "/usr/sbin/smtp-source", append(args, addr)...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		return 0, fmt.Errorf("smtp-source %s: %v: %s", addr, err, out)
	}
	return elapsed, nil
}

// freePort returns a loopback port nothing listens on.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// benchSink measures smtp-sink, the accept-only ceiling.
func benchSink(ctx context.Context, o options, tmp string) (row, error) {
	addr, err := freePort()
	if err != nil {
		return row{}, err
	}
	args := []string{"-c", addr, "1024"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...) // mandatory as root
	}
	sink := exec.CommandContext(ctx, "/usr/sbin/smtp-sink", args...)
	if err := sink.Start(); err != nil {
		return row{}, err
	}
	defer func() { _ = sink.Process.Kill(); _ = sink.Wait() }()
	if err := waitPort(addr, 5*time.Second); err != nil {
		return row{}, err
	}
	d, err := smtpSource(ctx, o, addr, "anyone@sink.example", false)
	if err != nil {
		return row{}, err
	}
	return row{name: "postfix smtp-sink (accept only)", mails: o.mails, elapsed: d, checked: "smtp-source exit status"}, nil
}

// benchDovecot measures Dovecot's LMTP delivery into Maildir.
func benchDovecot(ctx context.Context, o options, tmp string) (row, error) {
	addr, dir := o.dovecot, ""
	if addr == "" {
		env, stop, err := startDovecot(ctx, o.scripts, filepath.Join(tmp, "dovecot"))
		if err != nil {
			return row{}, err
		}
		defer stop()
		addr, dir = env["CALIOPEN_TEST_DOVECOT_LMTP"], env["CALIOPEN_TEST_DOVECOT_DIR"]
	}
	user := fmt.Sprintf("bench%d", time.Now().UnixNano())
	d, err := smtpSource(ctx, o, addr, user+"@dovecot.example", true)
	if err != nil {
		return row{}, err
	}
	checked := "smtp-source exit status (LMTP 250 per mail)"
	if dir != "" {
		files, _ := filepath.Glob(filepath.Join(dir, "home", user, "Maildir", "new", "*"))
		if len(files) != o.mails {
			return row{}, fmt.Errorf("dovecot stored %d of %d mails", len(files), o.mails)
		}
		checked = fmt.Sprintf("%d Maildir files", len(files))
	}
	return row{name: "dovecot-lmtpd (LMTP → Maildir)", mails: o.mails, elapsed: d, checked: checked}, nil
}

// startDovecot runs scripts/test-peers/dovecot.sh and returns its exports
// and a function that stops the instance by its pid.
func startDovecot(ctx context.Context, scripts, dir string) (map[string]string, func(), error) {
	out, err := exec.CommandContext(ctx, "bash", filepath.Join(scripts, "dovecot.sh"), dir).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("dovecot.sh: %w", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			env[k] = strings.Trim(v, "'")
		}
	}
	pid := env["CALIOPEN_TEST_DOVECOT_PID"]
	stop := func() { _ = exec.Command("bash", filepath.Join(scripts, "stop.sh"), pid).Run() }
	if env["CALIOPEN_TEST_DOVECOT_LMTP"] == "" || pid == "" {
		stop()
		return nil, nil, fmt.Errorf("dovecot.sh printed no address: %s", out)
	}
	return env, stop, nil
}

// benchCaliopen measures the listener over SMTP and LMTP, each mail
// accepted only once inbound-email stored it, then checks the store.
func benchCaliopen(ctx context.Context, o options, tmp string) ([]row, error) {
	// smtp-deliver's hosted domain is the users' here: mail between them
	// goes through process_inbound.
	s, err := systemtest.Start(ctx, systemtest.Options{Dir: filepath.Join(tmp, "caliopen"), StoreDSN: o.storeDSN,
		LMTP: true, Env: map[string]string{"CALIOPEN_LOCAL_DOMAIN": "caliopen.example"},
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var rows []row
	for i, it := range []struct {
		name, addr string
		lmtp       bool
	}{{"caliopen smtp-listener (SMTP)", s.SMTPAddr, false}, {"caliopen smtp-listener (LMTP)", s.LMTPAddr, true}} {
		name := fmt.Sprintf("bench%d%d", time.Now().UnixNano(), i)
		user, _, err := s.AddLocalUser(ctx, name, name+"@caliopen.example")
		if err != nil {
			return nil, err
		}
		d, err := smtpSource(ctx, o, it.addr, name+"@caliopen.example", it.lmtp)
		if err != nil {
			return nil, err
		}
		n, err := s.CountMessages(ctx, user)
		if err != nil {
			return nil, err
		}
		if n != o.mails {
			return nil, fmt.Errorf("%s: %d of %d mails stored", it.name, n, o.mails)
		}
		rows = append(rows, row{name: it.name, mails: o.mails, elapsed: d,
			checked: fmt.Sprintf("%d messages in the store (%s)", n, s.Store.Dialect())})
	}
	local, err := benchLocal(ctx, o, s)
	if err != nil {
		return nil, fmt.Errorf("local mail: %w", err)
	}
	return append(rows, local), nil
}

// benchLocal measures mail between two local users: deliver orders on
// outboundSMTP, -sessions at a time, for drafts of -size bytes, each
// answered once smtp-deliver stored its sent copy and inbound-email the
// recipient's message.
func benchLocal(ctx context.Context, o options, s *systemtest.System) (row, error) {
	name := fmt.Sprintf("bench%d", time.Now().UnixNano())
	from, fromIdent, err := s.AddLocalUser(ctx, name+"a", name+"a@caliopen.example")
	if err != nil {
		return row{}, err
	}
	to, _, err := s.AddLocalUser(ctx, name+"b", name+"b@caliopen.example")
	if err != nil {
		return row{}, err
	}
	body := strings.Repeat("0123456789abcde\n", o.size/16+1)[:o.size]
	orders := make([][]byte, o.mails)
	for i := range orders {
		m, err := s.Store.CreateDraft(ctx, store.Message{UserID: from, IdentityIDs: []string{fromIdent},
			Protocol: store.ProtocolEmail, Subject: fmt.Sprint("bench ", i), BodyPlain: body,
			Participants: []store.Participant{{Type: "From", Address: name + "a@caliopen.example"},
				{Type: "To", Address: name + "b@caliopen.example"}}})
		if err != nil {
			return row{}, err
		}
		orders[i], _ = json.Marshal(contract.DeliverOrder{MessageID: m.ID, Order: contract.OrderDeliver, RemoteID: fromIdent, UserID: from})
	}
	nc, err := s.ConnectAs(natsusers.Operator)
	if err != nil {
		return row{}, err
	}
	defer nc.Close()
	next := make(chan []byte)
	errs := make(chan error, o.sessions)
	start := time.Now()
	for range o.sessions {
		go func() {
			for order := range next {
				rep, err := nc.Request(contract.SubjectOutboundSMTP, order, contract.DeliverDeadline)
				if err == nil && !bytes.Contains(rep.Data, []byte(`"error":false`)) {
					err = fmt.Errorf("deliver: %s", rep.Data)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for _, order := range orders {
		next <- order
	}
	close(next)
	for range o.sessions {
		if err := <-errs; err != nil {
			return row{}, err
		}
	}
	elapsed := time.Since(start)
	n, err := s.CountMessages(ctx, to)
	if err != nil {
		return row{}, err
	}
	if n != o.mails {
		return row{}, fmt.Errorf("%d of %d mails stored", n, o.mails)
	}
	return row{name: "caliopen smtp-deliver (local user to user)", mails: o.mails, elapsed: elapsed,
		checked: fmt.Sprintf("%d messages in the store (%s)", n, s.Store.Dialect())}, nil
}

// waitPort waits until addr accepts connections.
func waitPort(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s", addr, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
