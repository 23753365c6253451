package smtplistener

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// guardConn is an admitted connection: it frees its slots once, when
// closed; it counts the client's junk commands, and closes the session
// with 421 past maxJunk; a session can ask it to close once its answer
// is written (closeSoon).
//
// Junk commands are NOOP, RSET, VRFY, HELP, a greeting after the second
// (EHLO again after STARTTLS is normal), a DATA refused and any unknown
// command; a message accepted clears the count. go-smtp has no hook for them, so the command
// lines are read here as the client sends them, skipping what DATA and
// BDAT carry: after DATA the connection waits for the server's answer (354:
// the message follows up to its ending dot; anything else: the lines held
// are commands), after BDAT n it skips n bytes. After STARTTLS the bytes
// are encrypted: the count stops there, and the session time limit still
// holds.
type guardConn struct {
	net.Conn
	maxJunk int
	log     *slog.Logger
	release func()
	timer   *time.Timer
	once    sync.Once

	mu        sync.Mutex
	line      []byte // a command line not yet complete
	held      []byte // what came after DATA, before the server's answer
	awaitData bool   // DATA sent, the server has not answered yet
	inData    bool   // within a DATA message
	dataTail  []byte // the last bytes of the message, to find its end
	skip      int64  // BDAT bytes still to come
	greets    int
	junk      int
	tls       bool // STARTTLS sent: the rest is not readable here
	ended     bool
	ending    bool // closeSoon: read nothing more
}

// Close closes the connection and frees its slots.
func (c *guardConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// end answers reply (bypassing the session) and closes the connection.
func (c *guardConn) end(outcome, reply string) {
	c.mu.Lock()
	already := c.ended
	c.ended = true
	c.mu.Unlock()
	if already {
		return
	}
	c.log.Warn("session closed", "outcome", outcome)
	_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Conn.Write([]byte(reply))
	_ = c.Close()
}

// Read reads from the client and counts its commands.
func (c *guardConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	ending := c.ending
	c.mu.Unlock()
	if ending {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.observe(p[:n]) {
		c.end("junk_commands", "421 4.7.0 Too many commands without a message, closing\r\n")
		return 0, net.ErrClosed
	}
	return n, err
}

// Write writes to the client; the server's answer to DATA decides what
// the bytes held after it were.
func (c *guardConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	over := false
	if last, ok := finalLine(p); ok && c.awaitData && !c.tls {
		c.awaitData = false
		held := c.held
		c.held = nil
		if bytes.HasPrefix(last, []byte("354")) {
			c.inData, c.dataTail = true, []byte("\r\n")
		} else {
			c.junk++ // DATA refused (no recipient yet)
		}
		over = c.junk > c.maxJunk || c.commands(held)
	}
	c.mu.Unlock()
	if over {
		c.end("junk_commands", "421 4.7.0 Too many commands without a message, closing\r\n")
	}
	return n, err
}

// closeSoon ends the session once the answer being given is written: the
// server reads nothing more, and the connection is closed shortly.
func (c *guardConn) closeSoon() {
	c.mu.Lock()
	c.ending = true
	c.mu.Unlock()
	time.AfterFunc(closeDelay, func() { _ = c.Close() })
}

// closeDelay is how long closeSoon leaves the session to write its answer.
const closeDelay = 200 * time.Millisecond

// accepted clears the junk count: the client delivered a message.
func (c *guardConn) accepted() {
	c.mu.Lock()
	c.junk = 0
	c.mu.Unlock()
}

// finalLine returns the last line of p when it ends an answer ("250 ...").
func finalLine(p []byte) ([]byte, bool) {
	p = bytes.TrimRight(p, "\r\n")
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		p = p[i+1:]
	}
	return p, len(p) >= 4 && p[3] == ' '
}

// observe reads what the client sent and says whether its junk commands
// passed the limit.
func (c *guardConn) observe(b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tls {
		return false
	}
	if c.awaitData {
		c.held = append(c.held, b...)
		return false
	}
	return c.commands(b)
}

// commands reads b as command lines (after what DATA or BDAT carry).
func (c *guardConn) commands(b []byte) bool {
	for len(b) > 0 {
		switch {
		case c.skip > 0:
			n := min(c.skip, int64(len(b)))
			c.skip -= n
			b = b[n:]
		case c.inData:
			b = c.scanData(b)
		case c.awaitData:
			c.held = append(c.held, b...)
			return false
		case c.tls:
			return false
		default:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				if len(c.line) < 4096 {
					c.line = append(c.line, b...)
				}
				return false
			}
			c.line = append(c.line, b[:i]...)
			b = b[i+1:]
			c.command(bytes.TrimSpace(c.line))
			c.line = c.line[:0]
			if c.junk > c.maxJunk {
				return true
			}
		}
	}
	return false
}

// command classifies one command line.
func (c *guardConn) command(line []byte) {
	verb, arg, _ := bytes.Cut(line, []byte(" "))
	switch string(bytes.ToUpper(verb)) {
	case "MAIL", "RCPT", "QUIT", "AUTH":
	case "STARTTLS":
		c.tls = true
	case "DATA":
		c.awaitData = true
	case "BDAT":
		size, _, _ := bytes.Cut(bytes.TrimSpace(arg), []byte(" "))
		if n, err := strconv.ParseInt(string(size), 10, 64); err == nil && n > 0 {
			c.skip = n
		}
	case "HELO", "EHLO", "LHLO":
		if c.greets++; c.greets > 2 {
			c.junk++
		}
	default: // NOOP, RSET, VRFY, HELP, unknown
		c.junk++
	}
}

// scanData consumes message bytes up to the ending "CRLF.CRLF" (or LF.LF)
// and returns what follows.
func (c *guardConn) scanData(b []byte) []byte {
	c.dataTail = append(c.dataTail, b...)
	for _, end := range [][]byte{[]byte("\r\n.\r\n"), []byte("\n.\n")} {
		if i := bytes.Index(c.dataTail, end); i >= 0 {
			rest := c.dataTail[i+len(end):]
			c.inData, c.dataTail = false, nil
			return bytes.Clone(rest)
		}
	}
	if len(c.dataTail) > 8 {
		c.dataTail = bytes.Clone(c.dataTail[len(c.dataTail)-8:])
	}
	return nil
}
