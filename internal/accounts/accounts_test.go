package accounts

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caliopen/functions/internal/store"
)

func openStore(t *testing.T) *store.SQL {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "caliopen.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newService(t *testing.T) (*Service, *store.SQL) {
	t.Helper()
	st := openStore(t)
	s, err := New(Config{LocalDomain: "Example.TEST", BcryptCost: bcrypt.MinCost, TokenTTL: time.Hour}, st)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func TestConfig(t *testing.T) {
	st := openStore(t)
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none: valid
	}{
		{"defaults", Config{LocalDomain: "caliopen.local"}, nil},
		{"everything wrong", Config{LocalDomain: "", BcryptCost: 99, TokenTTL: -time.Second},
			[]string{"local domain: required", "bcrypt cost 99", "token TTL -1s is negative"}},
		{"bad domain", Config{LocalDomain: "a..b"}, []string{`"a..b" is not a domain name`}},
		{"domain with @", Config{LocalDomain: "x@y"}, []string{"not a domain name"}},
		{"cost too low", Config{LocalDomain: "d.test", BcryptCost: 3}, []string{"bcrypt cost 3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg, st)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if s.cfg.BcryptCost != DefaultBcryptCost || s.cfg.TokenTTL != DefaultTokenTTL {
					t.Errorf("defaults not applied: %+v", s.cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCreateUser(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	u, id, err := s.CreateUser(ctx, NewUser{Name: " Alice ", Password: "correct horse", IsAdmin: true,
		RecoveryEmail: "alice@elsewhere.example", GivenName: "Alice", FamilyName: "Liddell"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "alice" || !u.IsAdmin || u.RecoveryEmail != "alice@elsewhere.example" {
		t.Errorf("user = %+v", u)
	}
	if cost, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil || cost != bcrypt.MinCost {
		t.Errorf("password hash cost = %d, %v; want a bcrypt hash of cost %d", cost, err, bcrypt.MinCost)
	}
	if strings.Contains(u.PasswordHash, "correct horse") {
		t.Error("the hash holds the password")
	}
	want := store.Identity{UserID: u.ID, Type: store.LocalIdentity, Protocol: store.ProtocolEmail,
		Identifier: "alice@example.test", DisplayName: "Alice Liddell", Status: store.Active}
	if id.UserID != want.UserID || id.Type != want.Type || id.Protocol != want.Protocol ||
		id.Identifier != want.Identifier || id.DisplayName != want.DisplayName || id.Status != want.Status {
		t.Errorf("local identity = %+v, want %+v", id, want)
	}
	if got, err := st.LookupIdentities(ctx, store.ProtocolEmail, "alice@example.test"); err != nil || len(got) != 1 {
		t.Errorf("inbound lookup of the local address = %v, %v; want one identity", got, err)
	}

	tests := []struct {
		name string
		in   NewUser
		want []string
	}{
		{"empty", NewUser{}, []string{"name is required", "at least 8 bytes"}},
		{"bad characters", NewUser{Name: "bob smith", Password: "12345678"}, []string{"only letters"}},
		{"leading dot", NewUser{Name: ".bob", Password: "12345678"}, []string{"may not start or end"}},
		{"double dot", NewUser{Name: "b..ob", Password: "12345678"}, []string{"may not start or end"}},
		{"too long", NewUser{Name: strings.Repeat("b", 65), Password: "12345678"}, []string{"longer than 64"}},
		{"long password", NewUser{Name: "bob", Password: strings.Repeat("p", 73)}, []string{"at most 72 bytes"}},
		{"recovery with a name", NewUser{Name: "bob", Password: "12345678", RecoveryEmail: "Bob <bob@x.example>"},
			[]string{"not a bare e-mail address"}},
		{"recovery not an address", NewUser{Name: "bob", Password: "12345678", RecoveryEmail: "bob"},
			[]string{"not a bare e-mail address"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.CreateUser(ctx, tc.in)
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("CreateUser = %v, want an *InvalidError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := st.GetUserByName(ctx, NormalizeName(tc.in.Name)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a refused user was stored: %v", err)
			}
		})
	}

	t.Run("name taken", func(t *testing.T) {
		_, _, err := s.CreateUser(ctx, NewUser{Name: "ALICE", Password: "another one"})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateUser(ALICE) = %v, want ErrConflict", err)
		}
	})
	t.Run("local address taken", func(t *testing.T) {
		// alice holds carol@example.test as a second local address.
		if _, err := st.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.LocalIdentity,
			Protocol: store.ProtocolEmail, Identifier: "carol@example.test"}); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.CreateUser(ctx, NewUser{Name: "carol", Password: "12345678"})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CreateUser(carol) = %v, want ErrConflict", err)
		}
		if _, err := st.GetUserByName(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("carol was left behind: %v", err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	if _, _, err := s.CreateUser(ctx, NewUser{Name: "bob", Password: "s3cret-pass"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, password string
		ok                   bool
	}{
		{"right", "bob", "s3cret-pass", true},
		{"name in another case", " BOB ", "s3cret-pass", true},
		{"wrong password", "bob", "s3cret-pasS", false},
		{"empty password", "bob", "", false},
		{"unknown user", "robert", "s3cret-pass", false},
		{"empty user", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := s.Authenticate(ctx, tc.user, tc.password)
			if tc.ok {
				if err != nil || u.Name != "bob" {
					t.Errorf("Authenticate = %+v, %v; want bob", u, err)
				}
				return
			}
			// The very same error value for every failure: nothing tells them apart.
			if err != ErrBadCredentials || u.ID != "" {
				t.Errorf("Authenticate = %+v, %v; want ErrBadCredentials", u, err)
			}
		})
	}
}

// TestAuthenticateTiming checks that an unknown user costs a bcrypt
// comparison like a known one: the fastest of a few unknown-user attempts is
// not much below the fastest wrong-password attempt.
func TestAuthenticateTiming(t *testing.T) {
	st := openStore(t)
	s, err := New(Config{LocalDomain: "example.test", BcryptCost: 8}, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := s.CreateUser(ctx, NewUser{Name: "bob", Password: "s3cret-pass"}); err != nil {
		t.Fatal(err)
	}
	fastest := func(user string) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			if _, err := s.Authenticate(ctx, user, "wrong-password"); err != ErrBadCredentials {
				t.Fatalf("Authenticate(%s) = %v", user, err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := fastest("bob"), fastest("nobody")
	if unknown < known/3 {
		t.Errorf("unknown user answered in %s, a known one in %s: the unknown path skips the hash", unknown, known)
	}
}

func TestSessions(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	u, _, err := s.CreateUser(ctx, NewUser{Name: "dan", Password: "dan-password"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "dan", "nope-nope"); err != ErrBadCredentials {
		t.Fatalf("Login with a wrong password = %v", err)
	}
	ses, err := s.Login(ctx, "dan", "dan-password")
	if err != nil {
		t.Fatal(err)
	}
	if len(ses.Token) != 43 || strings.ContainsAny(ses.Token, "+/=") {
		t.Errorf("token %q is not 43 characters of unpadded base64url", ses.Token)
	}
	if d := time.Until(ses.ExpiresAt); d < 59*time.Minute || d > time.Hour {
		t.Errorf("session expires in %s, want the TTL (1h)", d)
	}
	stored, err := st.GetSession(ctx, HashToken(ses.Token), time.Time{})
	if err != nil || stored.UserID != u.ID || stored.TokenHash == ses.Token {
		t.Fatalf("stored session = %+v, %v; want dan's, keyed by the token's hash", stored, err)
	}
	other, err := s.Login(ctx, "dan", "dan-password")
	if err != nil || other.Token == ses.Token {
		t.Fatalf("second login = %q, %v; want another token", other.Token, err)
	}
	if got, err := s.Verify(ctx, ses.Token); err != nil || got.ID != u.ID {
		t.Fatalf("Verify = %+v, %v", got, err)
	}

	bad := []struct{ name, token string }{
		{"empty", ""},
		{"short", ses.Token[:42]},
		{"long", ses.Token + "A"},
		{"not base64url", strings.Repeat("*", 43)},
		{"unknown", strings.Repeat("A", 43)},
		{"the hash itself", HashToken(ses.Token)},
	}
	for _, tc := range bad {
		if _, err := s.Verify(ctx, tc.token); err != ErrBadToken {
			t.Errorf("Verify(%s) = %v, want ErrBadToken", tc.name, err)
		}
		if err := s.Logout(ctx, tc.token); err != ErrBadToken {
			t.Errorf("Logout(%s) = %v, want ErrBadToken", tc.name, err)
		}
	}

	s.now = func() time.Time { return time.Now().Add(time.Hour + time.Second) }
	if _, err := s.Verify(ctx, ses.Token); err != ErrBadToken {
		t.Errorf("Verify after expiry = %v, want ErrBadToken", err)
	}
	s.now = time.Now

	if err := s.Logout(ctx, ses.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, ses.Token); err != ErrBadToken {
		t.Errorf("Verify after logout = %v, want ErrBadToken", err)
	}
	if err := s.Logout(ctx, ses.Token); err != ErrBadToken {
		t.Errorf("second Logout = %v, want ErrBadToken", err)
	}
	if _, err := s.Verify(ctx, other.Token); err != nil {
		t.Errorf("logging out one session ended another: %v", err)
	}
	if err := st.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, other.Token); err != ErrBadToken {
		t.Errorf("Verify for a deleted user = %v, want ErrBadToken", err)
	}
}
