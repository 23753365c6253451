package xaccount_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xaccount"
)

func TestLoadConfig(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	cfg, err := xaccount.LoadConfig(get)
	if err != nil || cfg.BaseURL != "https://api.x.com" || cfg.Timeout <= 0 {
		t.Errorf("defaults %+v %v", cfg, err)
	}
	env = map[string]string{xaccount.EnvAPIURL: "ftp://x", xaccount.EnvTimeout: "soon"}
	_, err = xaccount.LoadConfig(get)
	if err == nil || !strings.Contains(err.Error(), xaccount.EnvAPIURL) || !strings.Contains(err.Error(), xaccount.EnvTimeout) {
		t.Errorf("want both problems at once, got %v", err)
	}
}

func TestOpenRefusesUnusableCredentials(t *testing.T) {
	k := make([]byte, secrets.KeySize)
	rand.Read(k)
	ring, err := secrets.NewKeyring(secrets.Key{ID: "k", Secret: k})
	if err != nil {
		t.Fatal(err)
	}
	seal := func(id, plain string) secrets.Sealed {
		s, _ := ring.Seal([]byte(plain), []byte(id))
		return s
	}
	cfg := xaccount.Config{BaseURL: "http://127.0.0.1:9"}
	for _, tc := range []struct {
		name  string
		ident store.Identity
		want  string
	}{
		{"no credentials", store.Identity{ID: "i1"}, "no credentials"},
		{"not JSON", store.Identity{ID: "i2", Credentials: seal("i2", "x")}, "not a JSON object"},
		{"sealed for another identity", store.Identity{ID: "i3", Credentials: seal("other", `{"token":"t","secret":"s"}`)}, "open the credentials"},
		{"OAuth1 without the application", store.Identity{ID: "i4", Credentials: seal("i4", `{"token":"t","secret":"s"}`)}, "TWITTER_APP_KEY"},
		{"OAuth2 without a token", store.Identity{ID: "i5", Infos: map[string]string{"authtype": "oauth2"},
			Credentials: seal("i5", `{"oauh2refreshtoken":"r"}`)}, "no OAuth2 access token"},
		{"nothing usable", store.Identity{ID: "i6", Credentials: seal("i6", `{"inpassword":"p"}`)}, "neither"},
	} {
		_, err := xaccount.Open(context.Background(), cfg, tc.ident, ring, nil)
		if err == nil || !faults.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a permanent error saying %q", tc.name, err, tc.want)
		}
	}
}
