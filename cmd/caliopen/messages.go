package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

func cmdMessages(ctx context.Context, a *app, args []string) error {
	fs := a.flags("messages", "[-unread] [-drafts] [-limit N]", "Lists your messages, newest first.")
	unread := fs.Bool("unread", false, "only unread messages")
	drafts := fs.Bool("drafts", false, "only drafts")
	limit := fs.Int("limit", 20, "how many")
	_, s, err := a.loggedIn(fs, args, 0, 0)
	if err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *unread {
		q.Set("is_unread", "true")
	}
	if *drafts {
		q.Set("is_draft", "true")
	}
	var page struct {
		Messages []message `json:"messages"`
	}
	raw, err := a.get(ctx, s, "GET", "/messages?"+q.Encode(), nil, &page)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, raw)
	}
	var rows [][]string
	for _, m := range page.Messages {
		rows = append(rows, []string{m.MessageID, when(m.dateOf()), m.from(), m.Subject, m.state()})
	}
	return table(a.stdout, []string{"ID", "DATE", "FROM", "SUBJECT", "STATE"}, rows)
}

// dateOf is the message's date, else when it was stored.
func (m message) dateOf() time.Time {
	if m.Date.IsZero() {
		return m.DateInsert
	}
	return m.Date
}

// from is the message's sender, its address.
func (m message) from() string {
	for _, p := range m.Participants {
		if strings.EqualFold(p.Type, "From") {
			return p.Address
		}
	}
	return ""
}

// state says in a word or two where the message stands.
func (m message) state() string {
	var s []string
	switch {
	case m.IsDraft && m.SendState != "" && m.SendState != "draft":
		s = append(s, m.SendState)
	case m.IsDraft:
		s = append(s, "draft")
	case m.IsReceived:
		s = append(s, "received")
	default:
		s = append(s, "sent")
	}
	if m.IsUnread {
		s = append(s, "unread")
	}
	return strings.Join(s, ",")
}

func cmdRead(ctx context.Context, a *app, args []string) error {
	fs := a.flags("read", "ID [-raw]", "Shows message ID: its headers and plain-text body (-raw: the message as sent or received), and marks it read.")
	rawForm := fs.Bool("raw", false, "print the RFC 5322 message")
	pos, s, err := a.loggedIn(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *rawForm {
		b, err := a.call(ctx, s, "GET", "/messages/"+url.PathEscape(pos[0])+"/raw", nil)
		if err != nil {
			return err
		}
		if _, err = a.stdout.Write(b); err != nil {
			return err
		}
		return markRead(ctx, a, s, pos[0])
	}
	var m message
	raw, err := a.get(ctx, s, "GET", "/messages/"+url.PathEscape(pos[0]), nil, &m)
	if err != nil {
		return err
	}
	if m.IsUnread {
		if err := markRead(ctx, a, s, pos[0]); err != nil {
			return err
		}
		m.IsUnread = false
	}
	if a.json {
		return printJSON(a.stdout, raw)
	}
	w := a.stdout
	for _, p := range m.Participants {
		addr := p.Address
		if p.Label != "" {
			addr = p.Label + " <" + p.Address + ">"
		}
		fmt.Fprintf(w, "%s: %s\n", p.Type, safeText(addr))
	}
	fmt.Fprintf(w, "Date: %s\nSubject: %s\nState: %s\n", when(m.dateOf()), safeText(m.Subject), m.state())
	if m.SendError != "" {
		fmt.Fprintf(w, "Send error: %s\n", safeText(m.SendError))
	}
	_, err = fmt.Fprintf(w, "\n%s\n", strings.TrimRight(safeText(m.BodyPlain), "\n"))
	return err
}

// markRead marks message id read, as a mail client does once it is shown.
func markRead(ctx context.Context, a *app, s session, id string) error {
	_, err := a.call(ctx, s, "POST", "/messages/"+url.PathEscape(id)+"/actions", map[string][]string{"actions": {"set_read"}})
	if err != nil {
		return fmt.Errorf("mark %s read: %w", id, err)
	}
	return nil
}

// composeFlags are the flags that write a draft.
type composeFlags struct {
	from, subject, body, bodyFile string
	to, cc, bcc                   list
}

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func (c *composeFlags) register(fs *flag.FlagSet) {
	fs.Var(&c.to, "to", "a recipient (repeat for more)")
	fs.Var(&c.cc, "cc", "a Cc recipient (repeat for more)")
	fs.Var(&c.bcc, "bcc", "a Bcc recipient (repeat for more)")
	fs.StringVar(&c.subject, "subject", "", "the subject")
	fs.StringVar(&c.body, "body", "", "the plain-text body")
	fs.StringVar(&c.bodyFile, "body-file", "", "read the body from this file (- for standard input)")
	fs.StringVar(&c.from, "from", "", "the sending identity's id (default: your first local address)")
}

func (c *composeFlags) set() bool {
	return len(c.to)+len(c.cc)+len(c.bcc) > 0 || c.subject != "" || c.body != "" || c.bodyFile != "" || c.from != ""
}

// maxBodyFile bounds a body read from a file.
const maxBodyFile = 10 << 20

// draftBody is the API's draft request for the flags.
func (c *composeFlags) draftBody(stdin io.Reader) (map[string]any, error) {
	if c.body != "" && c.bodyFile != "" {
		return nil, fmt.Errorf("%w: give -body or -body-file, not both", errUsage)
	}
	body := c.body
	if c.bodyFile != "" {
		r := stdin
		if c.bodyFile != "-" {
			f, err := os.Open(c.bodyFile)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			r = f
		}
		b, err := io.ReadAll(io.LimitReader(r, maxBodyFile+1))
		if err != nil {
			return nil, fmt.Errorf("read the body: %w", err)
		}
		if len(b) > maxBodyFile {
			return nil, fmt.Errorf("the body is over %d bytes", maxBodyFile)
		}
		body = string(b)
	}
	var ps []participant
	for _, k := range []struct {
		typ   string
		addrs list
	}{{"To", c.to}, {"Cc", c.cc}, {"Bcc", c.bcc}} {
		for _, addr := range k.addrs {
			ps = append(ps, participant{Type: k.typ, Address: addr})
		}
	}
	in := map[string]any{"participants": ps, "subject": c.subject, "body_plain": body}
	if c.from != "" {
		in["identity_id"] = c.from
	}
	return in, nil
}

// createDraft writes a draft from the flags and returns it.
func (a *app) createDraft(ctx context.Context, s session, c *composeFlags) (message, []byte, error) {
	in, err := c.draftBody(a.stdin)
	if err != nil {
		return message{}, nil, err
	}
	var m message
	raw, err := a.get(ctx, s, "POST", "/messages", in, &m)
	if err != nil {
		return m, raw, fmt.Errorf("write the draft: %w", err)
	}
	return m, raw, nil
}

func cmdDraft(ctx context.Context, a *app, args []string) error {
	fs := a.flags("draft", "-to ADDRESS [-cc ADDRESS] [-bcc ADDRESS] [-subject S] [-body TEXT | -body-file FILE] [-from IDENTITY]",
		"Writes a draft and prints its id; caliopen send ID sends it.")
	var c composeFlags
	c.register(fs)
	_, s, err := a.loggedIn(fs, args, 0, 0)
	if err != nil {
		return err
	}
	m, raw, err := a.createDraft(ctx, s, &c)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, raw)
	}
	_, err = fmt.Fprintf(a.stdout, "draft %s\n", m.MessageID)
	return err
}

func cmdSend(ctx context.Context, a *app, args []string) error {
	fs := a.flags("send", "ID | -to ADDRESS [-cc ADDRESS] [-subject S] [-body TEXT | -body-file FILE] [-from IDENTITY]",
		"Sends draft ID, or writes a draft from the flags and sends it. It waits for the delivery's outcome\n"+
			"(up to 30 s) and fails with the reason when the mail could not go.")
	var c composeFlags
	c.register(fs)
	pos, err := a.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if (len(pos) == 1) == c.set() {
		return fmt.Errorf("%w: send takes a draft's ID or the flags writing one (-to ...), not both", errUsage)
	}
	s, err := a.session(true)
	if err != nil {
		return err
	}
	id := ""
	if len(pos) == 1 {
		id = pos[0]
	} else {
		m, _, err := a.createDraft(ctx, s, &c)
		if err != nil {
			return err
		}
		id = m.MessageID
	}
	var ans struct {
		Reply struct {
			Message string `json:"message"`
		} `json:"reply"`
	}
	raw, err := a.get(ctx, s, "POST", "/messages/"+url.PathEscape(id)+"/actions", map[string][]string{"actions": {"send"}}, &ans)
	if err != nil {
		return fmt.Errorf("send %s: %w", id, err)
	}
	if a.json {
		return printJSON(a.stdout, raw)
	}
	_, err = fmt.Fprintf(a.stdout, "sent %s\n", id)
	return err
}
