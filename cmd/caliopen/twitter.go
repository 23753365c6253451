package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/prompt"
)

const twitterSynopsis = "USERNAME (-tokens FILE | -oauth1 TOKEN) [-poll MINUTES] [-name DISPLAY]"

// maxTokenFile bounds the OAuth 2.0 token document read.
const maxTokenFile = 64 << 10

// cmdAddTwitter adds an X (Twitter) account: its direct messages are
// polled, and drafts sent from it go out as direct messages.
func cmdAddTwitter(ctx context.Context, a *app, args []string) error {
	fs := a.flags("account add-twitter", twitterSynopsis,
		"Adds an X (Twitter) account, polled for direct messages every -poll minutes. Its credentials are\n"+
			"either OAuth 2.0 user tokens: -tokens FILE (\"-\": standard input), the JSON the token endpoint\n"+
			"answered (access_token, refresh_token, expires_in or expiry), renewed by the server with its\n"+
			"OAUTH2_TWITTER_* client; or OAuth 1.0a: -oauth1 TOKEN, its token secret asked for on the terminal\n"+
			"without echo or read as the first line of standard input, signed with the server's TWITTER_APP_KEY.\n"+
			"The server keeps them sealed and never shows them.")
	tokens := fs.String("tokens", "", "a file of OAuth 2.0 tokens (JSON), - for standard input")
	oauth1 := fs.String("oauth1", "", "the OAuth 1.0a access token")
	poll := fs.Int("poll", 0, "minutes between polls (default: the server's, 2)")
	display := fs.String("name", "", "display name")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	username := strings.TrimPrefix(strings.TrimSpace(pos[0]), "@")
	if (*tokens == "") == (*oauth1 == "") {
		return fmt.Errorf("%w: account add-twitter: give one of -tokens FILE and -oauth1 TOKEN", errUsage)
	}
	s, err := a.session(true)
	if err != nil {
		return err
	}
	var infos, creds map[string]string
	if *tokens != "" {
		if creds, err = oauth2Creds(a.stdin, *tokens, time.Now()); err != nil {
			return err
		}
		infos = map[string]string{"authtype": "oauth2", "provider": "twitter"}
	} else {
		secret, err := prompt.Password(a.stdin, a.stderr, false)
		if err != nil {
			return fmt.Errorf("the token secret: %w", err)
		}
		creds = map[string]string{"token": strings.TrimSpace(*oauth1), "secret": secret}
	}
	body := map[string]any{"protocol": "twitter", "identifier": username, "display_name": *display, "credentials": creds}
	if infos != nil {
		body["infos"] = infos
	}
	if *poll > 0 {
		body["poll_interval"] = *poll
	}
	var id identity
	raw, err := a.get(ctx, s, "POST", "/identities/remotes", body, &id)
	if err != nil {
		return fmt.Errorf("add account @%s: %w", username, err)
	}
	if a.json {
		return printJSON(a.stdout, raw)
	}
	_, err = fmt.Fprintf(a.stdout, "added account @%s (id %s), polled for direct messages\n", id.Identifier, id.IdentityID)
	return err
}

// oauth2Creds reads an OAuth 2.0 token document (the token endpoint's
// answer, or golang.org/x/oauth2's Token as JSON) from file ("-": stdin)
// and returns the credentials the server keeps.
func oauth2Creds(stdin io.Reader, file string, now time.Time) (map[string]string, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read the tokens: %w", err)
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxTokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("read the tokens: %w", err)
	}
	if len(raw) > maxTokenFile {
		return nil, fmt.Errorf("the tokens are over %d bytes: not a token document", maxTokenFile)
	}
	var doc struct {
		AccessToken  string    `json:"access_token"`
		RefreshToken string    `json:"refresh_token"`
		TokenType    string    `json:"token_type"`
		ExpiresIn    int64     `json:"expires_in"`
		Expiry       time.Time `json:"expiry"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, errors.New("the tokens are not a JSON object with access_token (and refresh_token, expires_in)")
	}
	if strings.TrimSpace(doc.AccessToken) == "" {
		return nil, errors.New("the tokens have no access_token")
	}
	creds := map[string]string{"oauth2accesstoken": doc.AccessToken, "tokentype": "Bearer"}
	if doc.RefreshToken != "" {
		creds["oauh2refreshtoken"] = doc.RefreshToken // sic: the original's key
	}
	switch {
	case doc.ExpiresIn > 0:
		creds["tokenexpiry"] = now.Add(time.Duration(doc.ExpiresIn) * time.Second).UTC().Format(time.RFC3339)
	case !doc.Expiry.IsZero():
		creds["tokenexpiry"] = doc.Expiry.UTC().Format(time.RFC3339)
	}
	return creds, nil
}
