package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/datalock"
	"github.com/caliopen/functions/internal/prompt"
	"github.com/caliopen/functions/internal/store"
)

// EnvStoreDSN names the store when -data is not given.
const EnvStoreDSN = "CALIOPEN_STORE_DSN"

const usage = `usage: caliopen-admin create-user -name NAME [-admin] [-recovery ADDRESS] [-given NAME] [-family NAME] [-data DIR]

The password is never a flag: on a terminal it is asked for twice, without
echo; otherwise it is the first line of standard input.
The store is sqlite://DIR/caliopen.db with -data DIR (refused while the local
system runs on DIR: it holds DIR/lock), else $CALIOPEN_STORE_DSN
(postgres://... or sqlite:///path). The local domain and the bcrypt cost are the
API's: $CALIOPEN_LOCAL_DOMAIN (default caliopen.local), $API_BCRYPT_COST (default 10).`

// run executes one command. It reads the password from stdin (prompting
// on stderr when stdin is a terminal) and prints the outcome on stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command\n%s", usage)
	}
	switch args[0] {
	case "create-user":
		return createUser(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		_, err := fmt.Fprintln(stdout, usage)
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// createUser creates an account and its local identity, as the API's
// POST /api/v2/admin/users does, but without the welcome mail (no NATS
// here).
func createUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("create-user", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var n accounts.NewUser
	var dataDir string
	fs.StringVar(&n.Name, "name", "", "login name, also the local part of the user's address (required)")
	fs.BoolVar(&n.IsAdmin, "admin", false, "make the user an admin")
	fs.StringVar(&n.RecoveryEmail, "recovery", "", "recovery address, where the admin's mails go")
	fs.StringVar(&n.GivenName, "given", "", "given name")
	fs.StringVar(&n.FamilyName, "family", "", "family name")
	fs.StringVar(&dataDir, "data", "", "data directory: the store is sqlite://DIR/caliopen.db")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil
	} else if err != nil {
		return fmt.Errorf("create-user: %w\n%s", err, usage)
	}
	var errs []error
	if fs.NArg() > 0 {
		// Not quoted: a stray argument may well be a password.
		errs = append(errs, fmt.Errorf("%d unexpected arguments (the password is read from standard input)", fs.NArg()))
	}
	if n.Name == "" {
		errs = append(errs, errors.New("-name is required"))
	}
	dsn := strings.TrimSpace(getenv(EnvStoreDSN))
	if dataDir != "" {
		dsn = "sqlite://" + filepath.Join(dataDir, "caliopen.db")
	}
	if dsn == "" {
		errs = append(errs, fmt.Errorf("no store: give -data DIR or set %s", EnvStoreDSN))
	}
	cfg, err := api.LoadConfig(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("create-user: %w", err)
	}
	if _, err := os.Stat(dataDir); dataDir != "" && err == nil {
		// The running local system holds the directory's lock: writing
		// beside it would share its SQLite file behind its back.
		release, err := datalock.Take(dataDir)
		if errors.Is(err, datalock.ErrInUse) {
			return fmt.Errorf("create-user: the local system is running on %s (%w): stop it first, or create the user through it (caliopen user create %s)",
				dataDir, err, n.Name)
		}
		if err != nil {
			return fmt.Errorf("create-user: %w", err)
		}
		defer release()
	}
	password, err := prompt.Password(stdin, stderr, true)
	if err != nil {
		return fmt.Errorf("create-user: %w", err)
	}
	n.Password = password
	if cfg.LocalDomain == "" {
		cfg.LocalDomain = api.DefaultLocalDomain
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("create-user: %w", err)
	}
	defer st.Close()
	acc, err := accounts.New(accounts.Config{LocalDomain: cfg.LocalDomain, BcryptCost: cfg.BcryptCost}, st)
	if err != nil {
		return fmt.Errorf("create-user: %w", err)
	}
	u, local, err := acc.CreateUser(ctx, n)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("create-user: the name %q or the address %s is taken", accounts.NormalizeName(n.Name),
			acc.LocalAddress(n.Name))
	}
	if err != nil {
		return fmt.Errorf("create-user: %w", err)
	}
	role := "user"
	if u.IsAdmin {
		role = "admin"
	}
	_, err = fmt.Fprintf(stdout, "created %s %s (id %s), local address %s\n", role, u.Name, u.ID, local.Identifier)
	return err
}
