package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/prompt"
)

// The API's objects, as far as the tables show them.
type (
	user struct {
		UserID  string `json:"user_id"`
		Name    string `json:"name"`
		IsAdmin bool   `json:"is_admin"`
	}
	identity struct {
		IdentityID  string `json:"identity_id"`
		Type        string `json:"type"`
		Protocol    string `json:"protocol"`
		Identifier  string `json:"identifier"`
		DisplayName string `json:"display_name"`
		Status      string `json:"status"`
	}
	participant struct {
		Type    string `json:"type"`
		Address string `json:"address"`
		Label   string `json:"label,omitempty"`
	}
	message struct {
		MessageID    string        `json:"message_id"`
		Participants []participant `json:"participants"`
		Subject      string        `json:"subject"`
		BodyPlain    string        `json:"body_plain"`
		Date         time.Time     `json:"date"`
		DateInsert   time.Time     `json:"date_insert"`
		IsDraft      bool          `json:"is_draft"`
		IsUnread     bool          `json:"is_unread"`
		IsReceived   bool          `json:"is_received"`
		SendState    string        `json:"send_state"`
		SendError    string        `json:"send_error"`
	}
	notification struct {
		NotificationID string          `json:"notification_id"`
		Type           string          `json:"type"`
		Emitter        string          `json:"emitter"`
		Reference      string          `json:"reference"`
		Body           json.RawMessage `json:"body"`
		CreatedAt      time.Time       `json:"created_at"`
	}
)

func cmdLogin(ctx context.Context, a *app, args []string) error {
	fs := a.flags("login", "NAME", "Logs in as NAME. The password is asked for on the terminal without echo, or is the\n"+
		"first line of standard input. The token is saved (mode 0600) for the next commands.")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	password, err := prompt.Password(a.stdin, a.stderr, false)
	if err != nil {
		return err
	}
	// The saved credentials only tell the URL to log in to again; this
	// login replaces them, even when they are unreadable. It sends no token.
	saved, _ := a.loadCredentials()
	s := session{api: apiBase(a.gatewayURL(saved))}
	var ans credentials
	if _, err := a.get(ctx, s, "POST", "/authentications", map[string]string{"username": pos[0], "password": password}, &ans); err != nil {
		return fmt.Errorf("log in as %s: %w", pos[0], err)
	}
	ans.URL = a.gatewayURL(saved)
	name, err := a.saveCredentials(ans)
	if err != nil {
		return fmt.Errorf("save the token: %w", err)
	}
	if a.json {
		return printValue(a.stdout, map[string]any{"username": ans.Username, "user_id": ans.UserID,
			"expires_at": ans.ExpiresAt, "url": ans.URL, "credentials": name})
	}
	_, err = fmt.Fprintf(a.stdout, "logged in as %s until %s UTC\n", ans.Username, when(ans.ExpiresAt))
	return err
}

func cmdLogout(ctx context.Context, a *app, args []string) error {
	fs := a.flags("logout", "", "Ends the session on the server and forgets the saved token.")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	s, err := a.session(false)
	if err != nil {
		return err
	}
	if s.token != "" {
		if _, err := a.call(ctx, s, "DELETE", "/authentications", nil); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 401 {
				return fmt.Errorf("log out: %w", err)
			}
		}
	}
	if err := a.forgetCredentials(); err != nil {
		return err
	}
	if a.json {
		return printValue(a.stdout, map[string]bool{"logged_out": true})
	}
	_, err = fmt.Fprintln(a.stdout, "logged out")
	return err
}

func cmdWhoami(ctx context.Context, a *app, args []string) error {
	fs := a.flags("whoami", "", "Shows the logged-in user.")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	s, err := a.session(true)
	if err != nil {
		return err
	}
	var me struct {
		user
		Identities []identity `json:"identities"`
	}
	raw, err := a.get(ctx, s, "GET", "/me", nil, &me)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.stdout, raw)
	}
	role := "user"
	if me.IsAdmin {
		role = "admin"
	}
	return table(a.stdout, []string{"NAME", "ROLE", "USER ID"}, [][]string{{me.Name, role, me.UserID}})
}

func cmdUser(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprintln(a.stdout, "usage: caliopen user create NAME [-admin] [-recovery ADDRESS] [-given NAME] [-family NAME]")
			return errHelp
		}
		return fmt.Errorf("%w: caliopen user create NAME (caliopen user create -h)", errUsage)
	}
	fs := a.flags("user create", "NAME [-admin] [-recovery ADDRESS] [-given NAME] [-family NAME]",
		"Creates a user and its local address NAME@<local domain> (admins only). The password is asked for\n"+
			"twice on the terminal without echo, or is the first line of standard input. The system mails the\n"+
			"new user a welcome.")
	admin := fs.Bool("admin", false, "make the user an admin")
	recovery := fs.String("recovery", "", "recovery address, where the admin's mails go")
	given := fs.String("given", "", "given name")
	family := fs.String("family", "", "family name")
	pos, err := a.parse(fs, args[1:], 1, 1)
	if err != nil {
		return err
	}
	s, err := a.session(true)
	if err != nil {
		return err
	}
	password, err := prompt.Password(a.stdin, a.stderr, true)
	if err != nil {
		return err
	}
	var ans struct {
		User        user     `json:"user"`
		Identity    identity `json:"identity"`
		WelcomeMail struct {
			Error   bool   `json:"error"`
			Message string `json:"message"`
		} `json:"welcome_mail"`
	}
	raw, err := a.get(ctx, s, "POST", "/admin/users", map[string]any{"name": pos[0], "password": password, "is_admin": *admin,
		"recovery_email": *recovery, "given_name": *given, "family_name": *family}, &ans)
	if err != nil {
		return fmt.Errorf("create user %s: %w", pos[0], err)
	}
	if a.json {
		return printJSON(a.stdout, raw)
	}
	role, mail := "user", "welcome mail sent"
	if ans.User.IsAdmin {
		role = "admin"
	}
	if ans.WelcomeMail.Error {
		mail = "no welcome mail: " + ans.WelcomeMail.Message
	}
	_, err = fmt.Fprintf(a.stdout, "created %s %s, address %s (%s)\n", role, ans.User.Name, ans.Identity.Identifier, mail)
	return err
}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" || s == "help" }

func cmdIdentity(ctx context.Context, a *app, args []string) error {
	sub := "list"
	if len(args) > 0 && (isHelp(args[0]) || !strings.HasPrefix(args[0], "-")) {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "list":
		fs := a.flags("identity list", "", "Lists your identities: local addresses and remote accounts.")
		if _, err := a.parse(fs, args, 0, 0); err != nil {
			return err
		}
		s, err := a.session(true)
		if err != nil {
			return err
		}
		var locals, remotes struct {
			Identities []identity `json:"identities"`
		}
		rawL, err := a.get(ctx, s, "GET", "/identities/locals", nil, &locals)
		if err != nil {
			return err
		}
		rawR, err := a.get(ctx, s, "GET", "/identities/remotes", nil, &remotes)
		if err != nil {
			return err
		}
		if a.json {
			return printJSON(a.stdout, []byte(`{"locals":`+string(rawL)+`,"remotes":`+string(rawR)+`}`))
		}
		var rows [][]string
		for _, i := range append(locals.Identities, remotes.Identities...) {
			rows = append(rows, []string{i.IdentityID, i.Type, i.Protocol, i.Identifier, i.DisplayName, i.Status})
		}
		return table(a.stdout, []string{"ID", "TYPE", "PROTOCOL", "ADDRESS", "NAME", "STATUS"}, rows)
	case "add":
		fs := a.flags("identity add", "ALIAS [-name DISPLAY]", "Adds a local address ALIAS@<local domain> (or ALIAS given whole).")
		display := fs.String("name", "", "display name")
		pos, err := a.parse(fs, args, 1, 1)
		if err != nil {
			return err
		}
		s, err := a.session(true)
		if err != nil {
			return err
		}
		var id identity
		raw, err := a.get(ctx, s, "POST", "/identities/locals", map[string]string{"identifier": pos[0], "display_name": *display}, &id)
		if err != nil {
			return fmt.Errorf("add identity %s: %w", pos[0], err)
		}
		if a.json {
			return printJSON(a.stdout, raw)
		}
		_, err = fmt.Fprintf(a.stdout, "added %s (id %s)\n", id.Identifier, id.IdentityID)
		return err
	}
	if isHelp(sub) {
		fmt.Fprintln(a.stdout, "usage: caliopen identity list\n       caliopen identity add ALIAS [-name DISPLAY]")
		return errHelp
	}
	return fmt.Errorf("%w: caliopen identity list | add ALIAS", errUsage)
}

func cmdAccount(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "add-imap" {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprintln(a.stdout, "usage: caliopen account add-imap ADDRESS -imap HOST:PORT [-smtp HOST:PORT] [-user NAME] [-tls tls|starttls]")
			return errHelp
		}
		return fmt.Errorf("%w: caliopen account add-imap ADDRESS -imap HOST:PORT (caliopen account add-imap -h)", errUsage)
	}
	fs := a.flags("account add-imap", "ADDRESS -imap HOST:PORT [-smtp HOST:PORT] [-user NAME] [-tls tls|starttls] [-poll MINUTES]",
		"Adds a remote e-mail account: its INBOX is fetched over IMAP every -poll minutes, and mail sent from\n"+
			"it goes through -smtp with the same login. The password is asked for on the terminal without echo,\n"+
			"or is the first line of standard input; the server keeps it sealed and never shows it.")
	imap := fs.String("imap", "", "the IMAP server, host:port (required)")
	smtp := fs.String("smtp", "", "the SMTP submission server, host:port")
	login := fs.String("user", "", "the login (default: ADDRESS)")
	tls := fs.String("tls", "", "tls, starttls or none (tests only) for both servers (default: tls on ports 993 and 465, else starttls)")
	poll := fs.Int("poll", 0, "minutes between fetches (default: the server's, 15)")
	display := fs.String("name", "", "display name")
	pos, err := a.parse(fs, args[1:], 1, 1)
	if err != nil {
		return err
	}
	if *imap == "" {
		return fmt.Errorf("%w: account add-imap: -imap HOST:PORT is required", errUsage)
	}
	s, err := a.session(true)
	if err != nil {
		return err
	}
	password, err := prompt.Password(a.stdin, a.stderr, false)
	if err != nil {
		return err
	}
	if *login == "" {
		*login = pos[0]
	}
	infos := map[string]string{"inserver": *imap}
	creds := map[string]string{"inusername": *login, "inpassword": password}
	if *tls != "" {
		infos["intls"] = *tls
	}
	if *smtp != "" {
		infos["outserver"] = *smtp
		creds["outusername"], creds["outpassword"] = *login, password
		if *tls != "" {
			infos["outtls"] = *tls
		}
	}
	body := map[string]any{"protocol": "email", "identifier": pos[0], "display_name": *display, "infos": infos, "credentials": creds}
	if *poll > 0 {
		body["poll_interval"] = *poll
	}
	var id identity
	raw, err := a.get(ctx, s, "POST", "/identities/remotes", body, &id)
	if err != nil {
		return fmt.Errorf("add account %s: %w", pos[0], err)
	}
	if a.json {
		return printJSON(a.stdout, raw)
	}
	_, err = fmt.Fprintf(a.stdout, "added account %s (id %s), fetched from %s\n", id.Identifier, id.IdentityID, *imap)
	return err
}

func cmdMessages(ctx context.Context, a *app, args []string) error {
	fs := a.flags("messages", "[-unread] [-drafts] [-limit N]", "Lists your messages, newest first.")
	unread := fs.Bool("unread", false, "only unread messages")
	drafts := fs.Bool("drafts", false, "only drafts")
	limit := fs.Int("limit", 20, "how many")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	s, err := a.session(true)
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
	fs := a.flags("read", "ID [-raw]", "Shows message ID: its headers and plain-text body (-raw: the message as sent or received).")
	rawForm := fs.Bool("raw", false, "print the RFC 5322 message")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	s, err := a.session(true)
	if err != nil {
		return err
	}
	if *rawForm {
		b, err := a.call(ctx, s, "GET", "/messages/"+url.PathEscape(pos[0])+"/raw", nil)
		if err != nil {
			return err
		}
		_, err = a.stdout.Write(b)
		return err
	}
	var m message
	raw, err := a.get(ctx, s, "GET", "/messages/"+url.PathEscape(pos[0]), nil, &m)
	if err != nil {
		return err
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
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	s, err := a.session(true)
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

func cmdNotifications(ctx context.Context, a *app, args []string) error {
	fs := a.flags("notifications", "[-follow] [-limit N] [-interval D]",
		"Lists your notifications, newest first. -follow then prints new ones as they come, oldest first, until\n"+
			"interrupted (one JSON object per line with -json).")
	follow := fs.Bool("follow", false, "keep printing new notifications")
	limit := fs.Int("limit", 20, "how many to list first")
	interval := fs.Duration("interval", 2*time.Second, "with -follow: how often to ask")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	return a.notifications(ctx, *follow, *limit, *interval)
}

func cmdWatch(ctx context.Context, a *app, args []string) error {
	fs := a.flags("watch", "[-interval D]", "Prints your notifications as they come, until interrupted (notifications -follow -limit 0).")
	interval := fs.Duration("interval", 2*time.Second, "how often to ask")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	return a.notifications(ctx, true, 0, *interval)
}

// notifications lists the latest limit notifications and, with follow,
// polls for newer ones until ctx ends.
func (a *app) notifications(ctx context.Context, follow bool, limit int, interval time.Duration) error {
	if interval < 100*time.Millisecond {
		return fmt.Errorf("%w: -interval must be at least 100ms", errUsage)
	}
	s, err := a.session(true)
	if err != nil {
		return err
	}
	fetch := func(n int) ([]notification, []json.RawMessage, error) {
		var page struct {
			Notifications []json.RawMessage `json:"notifications"`
		}
		if _, err := a.get(ctx, s, "GET", "/notifications?limit="+strconv.Itoa(n), nil, &page); err != nil {
			return nil, nil, err
		}
		out := make([]notification, len(page.Notifications))
		for i, r := range page.Notifications {
			if err := json.Unmarshal(r, &out[i]); err != nil {
				return nil, nil, fmt.Errorf("notification: %w", err)
			}
		}
		return out, page.Notifications, nil
	}
	header := []string{"DATE", "TYPE", "EMITTER", "REFERENCE", "BODY"}
	row := func(n notification) []string {
		return []string{when(n.CreatedAt), n.Type, n.Emitter, n.Reference, string(n.Body)}
	}
	// The newest page, remembered so that following prints only what is new.
	const window = 100
	first, raws, err := fetch(max(limit, window))
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, n := range first {
		seen[n.NotificationID] = true
	}
	if limit > 0 {
		first, raws = first[:min(limit, len(first))], raws[:min(limit, len(raws))]
		if a.json && !follow {
			return printValue(a.stdout, map[string]any{"notifications": raws})
		}
		if a.json {
			for _, r := range raws {
				fmt.Fprintln(a.stdout, string(r))
			}
		} else {
			rows := make([][]string, len(first))
			for i, n := range first {
				rows[i] = row(n)
			}
			if err := table(a.stdout, header, rows); err != nil {
				return err
			}
		}
	}
	if !follow {
		return nil
	}
	if limit == 0 && !a.json {
		fmt.Fprintln(a.stderr, "watching notifications; Ctrl-C stops")
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		page, raws, err := fetch(window)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for i := len(page) - 1; i >= 0; i-- { // oldest first
			n := page[i]
			if seen[n.NotificationID] {
				continue
			}
			seen[n.NotificationID] = true
			if a.json {
				fmt.Fprintln(a.stdout, string(raws[i]))
			} else {
				fmt.Fprintln(a.stdout, strings.Join(cells(row(n)), "  "))
			}
		}
		if len(seen) > 10*window { // forget ids that left the window
			seen = map[string]bool{}
			for _, n := range page {
				seen[n.NotificationID] = true
			}
		}
	}
}

func cells(r []string) []string {
	for i := range r {
		r[i] = cell(r[i])
	}
	return r
}
