package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/provider"
)

// Default ports: away from the standard ones (NATS 4222, PostgreSQL 5432,
// OpenFaaS 8080) so that the system runs beside servers already there.
const (
	defaultNATSPort    = 24222
	defaultGatewayPort = 28080
	defaultAdminPort   = 28081
	defaultSMTPPort    = 22525
)

// config is the local system's configuration, from flags with environment
// defaults (CALIOPEN_DATA_DIR, CALIOPEN_NATS_PORT, CALIOPEN_GATEWAY_PORT,
// CALIOPEN_ADMIN_PORT, CALIOPEN_SMTP_PORT). Port 0 picks a free port.
type config struct {
	DataDir     string
	Host        string
	NATSPort    int
	GatewayPort int
	AdminPort   int
	SMTPPort    int
	LogLevel    string
	// AdminPassword, from CALIOPEN_ADMIN_PASSWORD or the file named by
	// -admin-password-file, makes sure the admin user exists at start.
	AdminPassword string
	// KeysFile, from -keys-file or CALIOPEN_SECRETS_KEYS_FILE, is the
	// keyring sealing remote-account credentials; default secrets.keys in
	// the data directory. Keep it apart from the data (another disk, a
	// secrets store) so that a copy of the data is not a copy of the key.
	KeysFile string
	// Isolation is how functions run: "inprocess" (default), every
	// function a handler of this process; or "process", each function
	// its own OS processes of FunctionBin, scaled by the gateway's provider
	// (package provider).
	Isolation string
	// FunctionBin is the function binary of the process isolation; default
	// "function" beside this program's own (go build -o bin/ ./cmd/function).
	FunctionBin string
	// IdleTimeout is how long a function's replica may stay idle before it
	// is stopped, in the process isolation.
	IdleTimeout time.Duration
	// echo receives the lines the replicas write, as the in-process
	// functions' logs go to the system's standard error.
	echo io.Writer
}

// Isolations.
const (
	isolationInProcess = "inprocess"
	isolationProcess   = "process"
)

func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var errs []error
	envInt := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: want a port number, got %q", name, v))
			return def
		}
		return n
	}
	envStr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	c := config{echo: stderr}
	fs := flag.NewFlagSet("caliopen-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.DataDir, "data", envStr("CALIOPEN_DATA_DIR", ".data"), "directory for all the system's data")
	fs.StringVar(&c.Host, "host", "127.0.0.1", "address every part listens on")
	fs.IntVar(&c.NATSPort, "nats-port", envInt("CALIOPEN_NATS_PORT", defaultNATSPort), "NATS client port (0: any free port)")
	fs.IntVar(&c.GatewayPort, "gateway-port", envInt("CALIOPEN_GATEWAY_PORT", defaultGatewayPort), "gateway port (0: any free port)")
	fs.IntVar(&c.AdminPort, "admin-port", envInt("CALIOPEN_ADMIN_PORT", defaultAdminPort), "connector metrics and health port (0: any free port)")
	fs.IntVar(&c.SMTPPort, "smtp-port", envInt("CALIOPEN_SMTP_PORT", defaultSMTPPort), "SMTP listener port (0: any free port)")
	fs.StringVar(&c.LogLevel, "log-level", envStr("LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.StringVar(&c.KeysFile, "keys-file", envStr("CALIOPEN_SECRETS_KEYS_FILE", ""),
		"keyring sealing remote-account passwords, created on first use (default: secrets.keys in the data directory; better kept elsewhere)")
	fs.StringVar(&c.Isolation, "isolation", envStr("CALIOPEN_ISOLATION", isolationInProcess),
		"how functions run: inprocess (handlers of this process) or process (each function its own processes, scaled to zero when idle)")
	fs.StringVar(&c.FunctionBin, "function-bin", envStr("CALIOPEN_FUNCTION_BIN", ""),
		"the function binary of -isolation=process (default: function beside this program; go build -o bin/ ./cmd/function)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", provider.DefaultIdleTimeout,
		"with -isolation=process, how long a function's replica may stay idle before it is stopped")
	pwFile := fs.String("admin-password-file", "", "create the admin user at start with the password in this file (or set CALIOPEN_ADMIN_PASSWORD)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.AdminPassword = getenv("CALIOPEN_ADMIN_PASSWORD")
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("-admin-password-file: %w", err))
		}
		c.AdminPassword = strings.TrimRight(string(b), "\r\n")
	}
	for name, p := range map[string]int{"nats-port": c.NATSPort, "gateway-port": c.GatewayPort, "admin-port": c.AdminPort, "smtp-port": c.SMTPPort} {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("-%s: %d is not a port", name, p))
		}
	}
	switch c.Isolation {
	case isolationInProcess:
	case isolationProcess:
		if c.FunctionBin == "" {
			exe, err := os.Executable()
			if err != nil {
				errs = append(errs, fmt.Errorf("-function-bin: %w", err))
			}
			c.FunctionBin = filepath.Join(filepath.Dir(exe), "function")
		}
	default:
		errs = append(errs, fmt.Errorf("-isolation: want %s or %s, got %q", isolationInProcess, isolationProcess, c.Isolation))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("-idle-timeout: want a positive duration, got %s", c.IdleTimeout))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("-data: required"))
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		errs = append(errs, fmt.Errorf("-data: %w", err))
	}
	c.DataDir = abs
	return c, errors.Join(errs...)
}
