package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// Defaults: the local system's addresses (cmd/caliopen-local).
const (
	defaultURL     = "http://127.0.0.1:28080"
	defaultNATSURL = "nats://127.0.0.1:24222"
	// defaultDataDir is the local system's data directory under make run,
	// where the operator's NATS password is.
	defaultDataDir = ".data"
	apiPath        = "/function/api/api/v2"
)

// Environment variables read by the client.
const (
	EnvURL       = "CALIOPEN_URL"
	EnvNATSURL   = "CALIOPEN_NATS_URL"
	EnvToken     = "CALIOPEN_TOKEN"
	EnvConfigDir = "CALIOPEN_CONFIG_DIR"
	EnvDataDir   = "CALIOPEN_DATA_DIR"
)

// errUsage marks a command line that cannot be run (exit status 2).
var errUsage = errors.New("usage")

// errHelp is returned by parse when -h was given: the usage was printed,
// and the command succeeds.
var errHelp = errors.New("help printed")

// env is what the client gets from its process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// app runs one command line.
type app struct {
	env
	http *http.Client
	// Common flags, on every command.
	url, natsURL, dataDir string
	json                  bool
}

// command is one command of the client.
type command struct {
	name    string
	args    string // the synopsis after the name
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

// commands lists every command; `caliopen help` prints them in this order.
func commands() []command {
	return []command{
		{"login", "NAME", "log in; the password is asked for (or read from stdin) and the token saved", cmdLogin},
		{"logout", "", "end the session and forget the token", cmdLogout},
		{"whoami", "", "show the logged-in user", cmdWhoami},
		{"user", "create NAME [-admin] [-recovery ADDRESS]", "create a user (admins)", cmdUser},
		{"identity", "list | add ALIAS [-name DISPLAY]", "list your identities, or add a local address", cmdIdentity},
		{"account", "add-imap ADDRESS -imap HOST:PORT [-smtp HOST:PORT] [-user NAME] | add-twitter USERNAME (-tokens FILE | -oauth1 TOKEN) | add-mastodon USER@INSTANCE -instance URL",
			"add a remote IMAP account, polled for mail, or an X (Twitter) account, polled for direct messages", cmdAccount},
		{"messages", "[-unread] [-drafts] [-limit N]", "list your messages, newest first", cmdMessages},
		{"read", "ID [-raw]", "show one message (-raw: its RFC 5322 form)", cmdRead},
		{"draft", "-to ADDRESS [-cc ADDRESS] [-subject S] [-body TEXT | -body-file FILE]", "write a draft", cmdDraft},
		{"send", "ID | -to ADDRESS [-subject S] [-body TEXT | -body-file FILE]", "send a draft, or write and send one", cmdSend},
		{"notifications", "[-follow] [-limit N]", "list your notifications, newest first; -follow waits for new ones", cmdNotifications},
		{"watch", "", "print notifications as they come (notifications -follow)", cmdWatch},
		{"order", "SUBJECT JSON", "send an order on NATS as a request and print the reply", cmdOrder},
		{"dlq", "[-follow] [-last N] [-subject SUBJECT]", "show the dead letters with their reasons", cmdDLQ},
	}
}

// run executes one command line.
func run(ctx context.Context, args []string, e env) error {
	a := &app{env: e, http: &http.Client{Timeout: 60 * time.Second}}
	global := a.flags("caliopen", "[-url URL] [-nats URL] [-json] COMMAND [ARGS]", "")
	global.Usage = func() { a.usage(global.Output()) }
	rest, err := a.parseGlobal(global, args)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		a.usage(a.stderr)
		return fmt.Errorf("%w: no command", errUsage)
	}
	name := rest[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(rest) > 1 {
			return run(ctx, []string{rest[1], "-h"}, e)
		}
		a.usage(a.stdout)
		return nil
	}
	i := slices.IndexFunc(commands(), func(c command) bool { return c.name == name })
	if i < 0 {
		return fmt.Errorf("%w: unknown command %q (caliopen help lists them)", errUsage, name)
	}
	err = commands()[i].run(ctx, a, rest[1:])
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// usage prints the list of commands.
func (a *app) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: caliopen [-url URL] [-nats URL] [-json] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n`caliopen COMMAND -h` explains a command. The API is at -url (CALIOPEN_URL, default "+defaultURL+"),")
	fmt.Fprintln(w, "NATS at -nats (CALIOPEN_NATS_URL, default "+defaultNATSURL+"), as the operator whose password is in the")
	fmt.Fprintln(w, "local system's data directory -data (CALIOPEN_DATA_DIR, default "+defaultDataDir+") unless NATS_USER or another NATS_* way is set.")
}

// flags returns a flag set for a command, with the common flags.
func (a *app) flags(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.url, "url", a.url, "the gateway's URL (or CALIOPEN_URL; default "+defaultURL+")")
	fs.StringVar(&a.natsURL, "nats", a.natsURL, "NATS's URL (or CALIOPEN_NATS_URL; default "+defaultNATSURL+")")
	fs.StringVar(&a.dataDir, "data", a.dataDir, "the local system's data directory, where order and dlq read the operator's NATS password (or CALIOPEN_DATA_DIR; default "+defaultDataDir+")")
	fs.BoolVar(&a.json, "json", a.json, "print JSON instead of a table")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: caliopen %s %s\n", name, synopsis)
		if about != "" {
			fmt.Fprintf(w, "\n%s\n", about)
		}
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseGlobal parses the flags before the command name.
func (a *app) parseGlobal(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(a.stdout)
		fs.Usage()
		return nil, errHelp
	} else if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return fs.Args(), nil
}

// parse parses a command's arguments, flags and positional arguments in
// any order, and checks the number of positional ones (min to max; max < 0:
// any). On -h it prints the usage on stdout and returns errHelp.
func (a *app) parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(a.stdout)
			fs.Usage()
			return nil, errHelp
		} else if err != nil {
			return nil, fmt.Errorf("%w: %s: %v (caliopen %s -h)", errUsage, fs.Name(), err, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		return nil, fmt.Errorf("%w: %s takes %s (caliopen %s -h)", errUsage, fs.Name(), arity(min, max), fs.Name())
	}
	return pos, nil
}

// loggedIn parses a command's arguments as parse does and returns the
// session of the logged-in user.
func (a *app) loggedIn(fs *flag.FlagSet, args []string, min, max int) ([]string, session, error) {
	pos, err := a.parse(fs, args, min, max)
	if err != nil {
		return nil, session{}, err
	}
	s, err := a.session(true)
	return pos, s, err
}

func arity(min, max int) string {
	switch {
	case min == max && min == 0:
		return "no arguments"
	case min == max:
		return fmt.Sprintf("%d argument(s)", min)
	case max < 0:
		return fmt.Sprintf("at least %d argument(s)", min)
	}
	return fmt.Sprintf("%d to %d arguments", min, max)
}

// gatewayURL is the URL the client talks to.
func (a *app) gatewayURL(saved *credentials) string {
	switch {
	case a.url != "":
		return strings.TrimRight(a.url, "/")
	case a.getenv(EnvURL) != "":
		return strings.TrimRight(a.getenv(EnvURL), "/")
	case saved != nil && saved.URL != "":
		return saved.URL
	}
	return defaultURL
}

// apiBase is the REST API's base URL for gateway URL u.
func apiBase(u string) string {
	if strings.HasSuffix(u, "/api/v2") {
		return u
	}
	return u + apiPath
}

// configDir is where the client keeps its credentials.
func (a *app) configDir() (string, error) {
	if d := a.getenv(EnvConfigDir); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory (set %s): %w", EnvConfigDir, err)
	}
	return d + string(os.PathSeparator) + "caliopen", nil
}
