package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/caliopen/functions/internal/accounts"
)

// Client calls the REST API as one user.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewUser creates a user (and its local identity name@LocalDomain) and
// logs it in through the API.
func (s *System) NewUser(ctx context.Context, name, password string) (*Client, error) {
	if _, _, err := s.Accounts.CreateUser(ctx, accountsUser(name, password)); err != nil {
		return nil, fmt.Errorf("create user %s: %w", name, err)
	}
	c := &Client{base: s.APIURL + "/api/v2", http: &http.Client{}}
	var ans struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := c.Do(ctx, http.MethodPost, "/authentications",
		map[string]string{"username": name, "password": password}, &ans); err != nil {
		return nil, err
	}
	c.token = ans.AccessToken
	return c, nil
}

// Do sends a JSON request and decodes a JSON answer into out (when not
// nil). A status of 400 or more is an error carrying the body.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if res.StatusCode >= 400 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: decode %q: %w", method, path, b, err)
		}
	}
	return res.StatusCode, nil
}

// Draft creates a draft from the user's identity (its first local one
// when identityID is "") to the participants and returns its id.
func (c *Client) Draft(ctx context.Context, identityID string, to []string, subject, body string) (string, error) {
	ps := make([]map[string]string, len(to))
	for i, a := range to {
		ps[i] = map[string]string{"type": "To", "address": a}
	}
	in := map[string]any{"participants": ps, "subject": subject, "body_plain": body}
	if identityID != "" {
		in["identity_id"] = identityID
	}
	var m struct {
		ID string `json:"message_id"`
	}
	if _, err := c.Do(ctx, http.MethodPost, "/messages", in, &m); err != nil {
		return "", err
	}
	return m.ID, nil
}

// Send sends draft id and returns the deliver reply's message.
func (c *Client) Send(ctx context.Context, id string) (string, error) {
	var ans struct {
		Reply struct {
			Error   bool   `json:"error"`
			Message string `json:"message"`
		} `json:"reply"`
	}
	if _, err := c.Do(ctx, http.MethodPost, "/messages/"+id+"/actions",
		map[string]any{"actions": []string{"send"}}, &ans); err != nil {
		return "", err
	}
	return ans.Reply.Message, nil
}

// accountsUser is the account of a test user.
func accountsUser(name, password string) accounts.NewUser {
	return accounts.NewUser{Name: name, Password: password}
}
