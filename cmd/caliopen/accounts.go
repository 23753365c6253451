package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/caliopen/functions/internal/prompt"
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
	_, s, err := a.loggedIn(fs, args, 0, 0)
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
	const synopsis = "NAME [-admin] [-recovery ADDRESS] [-given NAME] [-family NAME]"
	if err := a.subcommand(args, "user", "create", synopsis); err != nil {
		return err
	}
	fs := a.flags("user create", synopsis,
		"Creates a user and its local address NAME@<local domain> (admins only). The password is asked for\n"+
			"twice on the terminal without echo, or is the first line of standard input. The system mails the\n"+
			"new user a welcome.")
	admin := fs.Bool("admin", false, "make the user an admin")
	recovery := fs.String("recovery", "", "recovery address, where the admin's mails go")
	given := fs.String("given", "", "given name")
	family := fs.String("family", "", "family name")
	pos, s, err := a.loggedIn(fs, args[1:], 1, 1)
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

// subcommand checks that args name the only subcommand sub of command
// group; help for the group prints its synopsis and returns errHelp.
func (a *app) subcommand(args []string, group, sub, synopsis string) error {
	switch {
	case len(args) > 0 && args[0] == sub:
		return nil
	case len(args) > 0 && isHelp(args[0]):
		fmt.Fprintf(a.stdout, "usage: caliopen %s %s %s\n", group, sub, synopsis)
		return errHelp
	}
	return fmt.Errorf("%w: caliopen %s %s %s (caliopen %s %s -h)", errUsage, group, sub, synopsis, group, sub)
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
		_, s, err := a.loggedIn(fs, args, 0, 0)
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
			if i.Status == "reauth_required" && i.Sync != nil && i.Sync.LastError != "" {
				i.Status += ": " + i.Sync.LastError
			}
			rows = append(rows, []string{i.IdentityID, i.Type, i.Protocol, i.Identifier, i.DisplayName, i.Status})
		}
		return table(a.stdout, []string{"ID", "TYPE", "PROTOCOL", "ADDRESS", "NAME", "STATUS"}, rows)
	case "add":
		fs := a.flags("identity add", "ALIAS [-name DISPLAY]", "Adds a local address ALIAS@<local domain> (or ALIAS given whole).")
		display := fs.String("name", "", "display name")
		pos, s, err := a.loggedIn(fs, args, 1, 1)
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
	if len(args) > 0 && args[0] == "add-twitter" {
		return cmdAddTwitter(ctx, a, args[1:])
	}
	if len(args) > 0 && args[0] == "add-mastodon" {
		return cmdAddMastodon(ctx, a, args[1:])
	}
	const synopsis = "ADDRESS -imap HOST:PORT [-smtp HOST:PORT] [-user NAME] [-tls tls|starttls] [-poll MINUTES]"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintf(a.stdout, "usage: caliopen account add-imap %s\n       caliopen account add-twitter %s\n       caliopen account add-mastodon %s\n",
			synopsis, twitterSynopsis, mastodonSynopsis)
		return errHelp
	}
	if err := a.subcommand(args, "account", "add-imap", synopsis); err != nil {
		return err
	}
	fs := a.flags("account add-imap", synopsis,
		"Adds a remote e-mail account: its INBOX is fetched over IMAP every -poll minutes, and mail sent from\n"+
			"it goes through -smtp with the same login. The password is asked for on the terminal without echo,\n"+
			"or is the first line of standard input; the server keeps it sealed and never shows it. The IMAP\n"+
			"server is checked once from this machine (a login), and what was found is said: ok, unreachable,\n"+
			"tls_failed or auth_failed; the account is added in every case (a server may be down a while).")
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
	mode, err := imapTLSMode(*imap, *tls)
	if err != nil {
		return fmt.Errorf("%w: account add-imap: -tls: %v", errUsage, err)
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
	found := checkIMAP(*imap, mode, *login, password)
	var id identity
	raw, err := a.get(ctx, s, "POST", "/identities/remotes", body, &id)
	if err != nil {
		return fmt.Errorf("add account %s: %w", pos[0], err)
	}
	if a.json {
		fmt.Fprintf(a.stderr, "checked %s from here: %s\n", *imap, found)
		return printJSON(a.stdout, raw)
	}
	_, err = fmt.Fprintf(a.stdout, "added account %s (id %s), fetched from %s; checked from here: %s\n", id.Identifier, id.IdentityID, *imap, found)
	return err
}
