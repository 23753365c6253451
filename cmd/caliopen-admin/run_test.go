package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/datalock"
	"github.com/caliopen/functions/internal/store"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestCreateUser(t *testing.T) {
	dir := t.TempDir()
	getenv := env(map[string]string{"CALIOPEN_LOCAL_DOMAIN": "mail.example", "API_BCRYPT_COST": "4"})
	var out bytes.Buffer
	err := run(context.Background(), []string{"create-user", "-name", "Bob", "-admin", "-recovery", "bob@home.example",
		"-data", dir}, getenv, strings.NewReader("s3cret passphrase\r\n"), &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "created admin bob") || !strings.Contains(out.String(), "bob@mail.example") {
		t.Errorf("output %q", out.String())
	}
	if strings.Contains(out.String(), "s3cret") {
		t.Error("the password was printed")
	}
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "caliopen.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.GetUserByName(context.Background(), "bob")
	if err != nil || !u.IsAdmin || u.RecoveryEmail != "bob@home.example" {
		t.Fatalf("stored user %+v, %v", u, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("s3cret passphrase")) != nil {
		t.Error("the stored hash does not match the password read from stdin (line ending included?)")
	}
	acc, err := accounts.New(accounts.Config{LocalDomain: "mail.example", BcryptCost: 4}, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Login(context.Background(), "bob", "s3cret passphrase"); err != nil {
		t.Errorf("login with the new account: %v", err)
	}

	// The same name again; and CALIOPEN_STORE_DSN instead of -data.
	getenv = env(map[string]string{"CALIOPEN_STORE_DSN": "sqlite://" + filepath.Join(dir, "caliopen.db"), "API_BCRYPT_COST": "4"})
	err = run(context.Background(), []string{"create-user", "-name", "bob"}, getenv, strings.NewReader("another one\n"), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is taken") {
		t.Errorf("second bob: %v, want a taken name", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"create-user", "-name", "carol"}, getenv, strings.NewReader("carol-password"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "created user carol") || !strings.Contains(out.String(), "carol@caliopen.local") {
		t.Errorf("output %q", out.String())
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		stdin string
		want  []string
	}{
		{"no command", nil, nil, "", []string{"no command", "usage:"}},
		{"unknown command", []string{"delete-everything"}, nil, "", []string{`unknown command "delete-everything"`}},
		{"everything missing", []string{"create-user"}, map[string]string{"API_BCRYPT_COST": "99"}, "pw",
			[]string{"-name is required", "no store", "bcrypt cost 99"}},
		{"password as an argument", []string{"create-user", "-name", "x", "-data", dir, "hunter22"}, nil, "",
			[]string{"read from standard input"}},
		{"password flag", []string{"create-user", "-name", "x", "-password", "hunter22"}, nil, "",
			[]string{"flag provided but not defined: -password"}},
		{"no password", []string{"create-user", "-name", "x", "-data", dir}, nil, "", []string{"no password"}},
		{"short password", []string{"create-user", "-name", "x", "-data", dir}, nil, "short\n", []string{"at least 8 bytes"}},
		{"bad name", []string{"create-user", "-name", "a b", "-data", dir}, nil, "long enough\n", []string{"only letters"}},
		{"missing data dir", []string{"create-user", "-name", "x", "-data", filepath.Join(dir, "nope", "deeper")}, nil,
			"long enough\n", []string{"sqlite"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, env(tc.env), strings.NewReader(tc.stdin), &out, io.Discard)
			if err == nil {
				t.Fatal("run succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter22") {
				t.Error("the error repeats the password")
			}
		})
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, env(nil), strings.NewReader(""), &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "create-user") {
		t.Errorf("help: %v, %q", err, out.String())
	}
}

// TestCreateUserHelp: -h prints the usage and succeeds (exit status 0).
func TestCreateUserHelp(t *testing.T) {
	for _, args := range [][]string{{"create-user", "-h"}, {"create-user", "--help"}, {"-h"}, {"help"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, env(nil), strings.NewReader(""), &out, io.Discard); err != nil {
			t.Errorf("%q: %v, want success", args, err)
		}
		if !strings.Contains(out.String(), "usage: caliopen-admin create-user") {
			t.Errorf("%q printed %q, want the usage", args, out.String())
		}
	}
}

// TestCreateUserLocked: while another process holds the data directory's
// lock (the running local system), nothing is written and the error says
// the system is running; released, the same command works.
func TestCreateUserLocked(t *testing.T) {
	dir := t.TempDir()
	release, err := datalock.Take(dir)
	if err != nil {
		t.Fatal(err)
	}
	getenv := env(map[string]string{"API_BCRYPT_COST": "4"})
	err = run(context.Background(), []string{"create-user", "-name", "dave", "-data", dir}, getenv,
		strings.NewReader("dave-password\n"), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "the local system is running on "+dir) {
		t.Errorf("create-user on a locked data directory = %v, want a refusal saying the system runs", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "caliopen.db")); !os.IsNotExist(err) {
		t.Errorf("the store was opened while locked: %v", err)
	}
	release()
	if err := run(context.Background(), []string{"create-user", "-name", "dave", "-data", dir}, getenv,
		strings.NewReader("dave-password\n"), io.Discard, io.Discard); err != nil {
		t.Errorf("create-user once released: %v", err)
	}
}
