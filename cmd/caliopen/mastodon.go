package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/caliopen/functions/internal/prompt"
)

const mastodonSynopsis = "USER@INSTANCE -instance URL [-poll MINUTES] [-name DISPLAY]"

// cmdAddMastodon adds a Mastodon account: its direct messages are polled,
// and drafts sent from it go out as direct statuses.
func cmdAddMastodon(ctx context.Context, a *app, args []string) error {
	fs := a.flags("account add-mastodon", mastodonSynopsis,
		"Adds a Mastodon account, polled for direct messages every -poll minutes. -instance is its instance URL\n"+
			"(https://mastodon.example); its OAuth 2.0 access token (scopes read write, from the instance's\n"+
			"authorization-code flow or its development settings) is asked for on the terminal without echo,\n"+
			"or read as the first line of standard input. The server keeps it sealed and never shows it.")
	instance := fs.String("instance", "", "the instance's URL")
	poll := fs.Int("poll", 0, "minutes between polls (default: the server's, 2)")
	display := fs.String("name", "", "display name")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	acct := strings.TrimPrefix(strings.TrimSpace(pos[0]), "@")
	if *instance == "" {
		return fmt.Errorf("%w: account add-mastodon: -instance URL is required", errUsage)
	}
	s, err := a.session(true)
	if err != nil {
		return err
	}
	tok, err := prompt.Password(a.stdin, a.stderr, false)
	if err != nil {
		return fmt.Errorf("the access token: %w", err)
	}
	body := map[string]any{"protocol": "mastodon", "identifier": acct, "display_name": *display,
		"infos":       map[string]string{"url": *instance, "authtype": "oauth2"},
		"credentials": map[string]string{"oauth2accesstoken": strings.TrimSpace(tok), "tokentype": "Bearer"}}
	if *poll > 0 {
		body["poll_interval"] = *poll
	}
	var id identity
	raw, err := a.get(ctx, s, "POST", "/identities/remotes", body, &id)
	if err != nil {
		return fmt.Errorf("add account @%s: %w", acct, err)
	}
	if a.json {
		return printJSON(a.stdout, raw)
	}
	_, err = fmt.Fprintf(a.stdout, "added account @%s (id %s), polled for direct messages\n", id.Identifier, id.IdentityID)
	return err
}
