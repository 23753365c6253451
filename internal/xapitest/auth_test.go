package xapitest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// token posts a refresh_token grant; basic sends id:secret in the
// Authorization header, form fields go in the body.
func token(t *testing.T, s *Server, basic [2]string, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("grant_type", "refresh_token")
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/2/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic[0] != "" {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestTokenClientAuthentication: the token endpoint authenticates clients
// as X's OAuth 2.0 reference says: a confidential client with HTTP Basic
// only, a public client by client_id in the body; a used or revoked
// refresh token is refused as a grant.
func TestTokenClientAuthentication(t *testing.T) {
	s := fixture(t)
	s.AddOAuth2Client("conf", "secret", "r-conf", "100")
	s.AddOAuth2Client("pub", "", "r-pub", "100")
	for _, c := range []struct {
		name   string
		basic  [2]string
		form   url.Values
		status int
		errStr string
	}{
		{"confidential, secret in the body", [2]string{}, url.Values{"client_id": {"conf"}, "client_secret": {"secret"}, "refresh_token": {"r-conf"}},
			401, "unauthorized_client"},
		{"confidential, wrong secret", [2]string{"conf", "nope"}, url.Values{"refresh_token": {"r-conf"}}, 401, "unauthorized_client"},
		{"confidential, secret twice", [2]string{"conf", "secret"}, url.Values{"client_secret": {"secret"}, "refresh_token": {"r-conf"}},
			401, "unauthorized_client"},
		{"public with a secret", [2]string{"pub", "x"}, url.Values{"refresh_token": {"r-pub"}}, 401, "unauthorized_client"},
		{"confidential, Basic", [2]string{"conf", "secret"}, url.Values{"refresh_token": {"r-conf"}}, 200, ""},
		{"refresh token used", [2]string{"conf", "secret"}, url.Values{"refresh_token": {"r-conf"}}, 400, "invalid_request"},
		{"public, client_id in the body", [2]string{}, url.Values{"client_id": {"pub"}, "refresh_token": {"r-pub"}}, 200, ""},
	} {
		status, body := token(t, s, c.basic, c.form)
		if status != c.status || (c.errStr != "" && body["error"] != c.errStr) {
			t.Errorf("%s: %d %v, want %d %s", c.name, status, body, c.status, c.errStr)
		}
		if c.status == 200 && (body["access_token"] == nil || body["refresh_token"] == nil) {
			t.Errorf("%s: %v has no token pair", c.name, body)
		}
	}
	s.AddOAuth2Client("conf", "secret", "r-revoked", "100")
	s.Revoke("r-revoked")
	if status, body := token(t, s, [2]string{"conf", "secret"}, url.Values{"refresh_token": {"r-revoked"}}); status != 400 ||
		body["error"] != "invalid_request" {
		t.Errorf("revoked refresh token: %d %v", status, body)
	}
}

// TestRevokeAndRefuse: a revoked access token is refused before its
// expiry; a user who refuses direct messages answers 403 to a send; an
// injected 503 on send is served before the send itself.
func TestRevokeAndRefuse(t *testing.T) {
	s := fixture(t)
	s.AddBearer("valid-long", "100", time.Now().Add(2*time.Hour))
	if resp, _ := call(t, s, http.MethodGet, "/2/users/me", "valid-long", nil); resp.StatusCode != 200 {
		t.Fatalf("valid token: %d", resp.StatusCode)
	}
	s.Revoke("valid-long")
	if resp, body := call(t, s, http.MethodGet, "/2/users/me", "valid-long", nil); resp.StatusCode != 401 || body["title"] != "Unauthorized" {
		t.Errorf("revoked token: %d %v", resp.StatusCode, body)
	}
	s.RefuseDMs("200")
	if resp, body := call(t, s, http.MethodPost, "/2/dm_conversations/with/200/messages", "tok", map[string]string{"text": "hi"}); resp.StatusCode != 403 ||
		!strings.Contains(body["detail"].(string), "not allowed to send") {
		t.Errorf("send to a user refusing DMs: %d %v", resp.StatusCode, body)
	}
	s.AddUser("300", "carol", "Carol")
	s.Fail(GroupDMSend, http.StatusServiceUnavailable, 1)
	if resp, _ := call(t, s, http.MethodPost, "/2/dm_conversations/with/300/messages", "tok", map[string]string{"text": "hi"}); resp.StatusCode != 503 {
		t.Errorf("injected failure: %d", resp.StatusCode)
	}
	if resp, _ := call(t, s, http.MethodPost, "/2/dm_conversations/with/300/messages", "tok", map[string]string{"text": "hi"}); resp.StatusCode != 201 ||
		len(s.Sent()) != 1 {
		t.Errorf("after the failure: %d, %d sent", resp.StatusCode, len(s.Sent()))
	}
}
