package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// credentials are what login saves: the token and where it is valid.
type credentials struct {
	URL       string    `json:"url"`
	Username  string    `json:"username"`
	UserID    string    `json:"user_id"`
	Token     string    `json:"access_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

const credentialsFile = "credentials.json"

// loadCredentials reads the saved credentials; none saved is (nil, nil).
// A file that others may read is refused: it holds a token.
func (a *app) loadCredentials() (*credentials, error) {
	dir, err := a.configDir()
	if err != nil {
		return nil, err
	}
	name := filepath.Join(dir, credentialsFile)
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s may be read by others (mode %#o): run chmod 600 on it, or log in again", name, st.Mode().Perm())
	}
	var c credentials
	if err := json.NewDecoder(io.LimitReader(f, 64<<10)).Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w (log in again)", name, err)
	}
	return &c, nil
}

// saveCredentials writes c with mode 0600 (its directory 0700), replacing
// the file at once.
func (a *app) saveCredentials(c credentials) (string, error) {
	dir, err := a.configDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if err := json.NewEncoder(tmp).Encode(c); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	name := filepath.Join(dir, credentialsFile)
	return name, os.Rename(tmp.Name(), name)
}

// forgetCredentials removes the saved credentials.
func (a *app) forgetCredentials() error {
	dir, err := a.configDir()
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, credentialsFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// session is where requests go and the token they carry.
type session struct {
	api   string
	token string
}

// session returns the API's URL and the token for it: CALIOPEN_TOKEN,
// else the saved one if it was issued by this URL. needToken fails
// without one.
func (a *app) session(needToken bool) (session, error) {
	saved, err := a.loadCredentials()
	if err != nil {
		return session{}, err
	}
	u := a.gatewayURL(saved)
	s := session{api: apiBase(u), token: a.getenv(EnvToken)}
	if s.token == "" && saved != nil && saved.URL == u {
		s.token = saved.Token
	}
	if needToken && s.token == "" {
		return s, fmt.Errorf("not logged in to %s: run caliopen login NAME (or set %s)", u, EnvToken)
	}
	return s, nil
}

// apiError is an error answer of the API.
type apiError struct {
	Status  int
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	hint := ""
	if e.Status == http.StatusUnauthorized && e.Code == "unauthorized" {
		hint = "; log in again: caliopen login NAME"
	}
	return fmt.Sprintf("%s (%s, HTTP %d)%s", e.Message, e.Code, e.Status, hint)
}

// maxAnswer bounds an answer read from the API.
const maxAnswer = 64 << 20

// call sends a request to the API and returns the answer's body; an error
// status becomes an *apiError. in, when not nil, is sent as JSON.
func (a *app) call(ctx context.Context, s session, method, path string, in any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.api+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	res, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (is the system running? caliopen-local prints its addresses)", method, s.api, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if res.StatusCode >= 400 {
		e := &apiError{Status: res.StatusCode}
		if json.Unmarshal(out, e) != nil || e.Code == "" {
			e.Code, e.Message = "", ""
		}
		return out, e
	}
	return out, nil
}

// get calls the API and decodes the answer into out.
func (a *app) get(ctx context.Context, s session, method, path string, in, out any) ([]byte, error) {
	b, err := a.call(ctx, s, method, path, in)
	if err != nil {
		return b, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return b, fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return b, nil
}

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
		Sync        *struct {
			LastError string `json:"last_error"`
		} `json:"sync,omitempty"`
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
