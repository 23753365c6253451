package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/caliopen/functions/internal/netguard"
)

// DefaultBasePort is the first port of the cluster: away from the standard
// ports (4222, 5432, 8080) and from the local system's (24222, 28080...).
const DefaultBasePort = 26000

// The environment scripts/cluster.sh sets from the peers it starts.
const (
	EnvStoreDSN    = "CALIOPEN_CLUSTER_STORE_DSN"
	EnvS3Endpoint  = "CALIOPEN_CLUSTER_S3_ENDPOINT"
	EnvS3AccessKey = "CALIOPEN_CLUSTER_S3_ACCESS_KEY"
	EnvS3SecretKey = "CALIOPEN_CLUSTER_S3_SECRET_KEY"
)

// EnvOpenFaaSGateway names the OpenFaaS CE gateway's binary, as
// scripts/test-peers/openfaas.sh prints it.
const EnvOpenFaaSGateway = "CALIOPEN_TEST_OPENFAAS_GATEWAY"

// EnvPrometheus names Prometheus's binary, as openfaas.sh prints it.
const EnvPrometheus = "CALIOPEN_TEST_PROMETHEUS"

// EnvEgressAllow is the operator's allowance of the egress guard
// (netguard.EnvAllow), passed on to every function when set: the hosts and
// prefixes of remote servers a user may name although they are loopback or
// private (the chaos test's Dovecot on 127.0.0.1). Unset, the functions'
// guard refuses every special address, as in production; nothing here turns
// the guard off.
const EnvEgressAllow = netguard.EnvAllow

// config is the command's configuration: flags, with the peers' addresses
// from the environment.
type config struct {
	DataDir    string
	Root       string
	BinDir     string
	NATSServer string
	// OpenFaaSGateway is the OpenFaaS CE gateway's binary, Prometheus
	// the Prometheus it queries.
	OpenFaaSGateway string
	Prometheus      string
	BasePort        int
	Host            string
	// FunctionReplicas is the least replicas of a function with
	// request/reply subjects (or an HTTP function); the others run their
	// stack entry's com.openfaas.scale.min.
	FunctionReplicas int
	StoreDSN         string
	S3Endpoint       string
	S3AccessKey      string
	S3SecretKey      string
	// EgressAllow is EnvEgressAllow's value ("" for none).
	EgressAllow string
}

func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("caliopen-cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.DataDir, "data", ".cluster", "directory of the cluster's data, kept from one start to the next")
	fs.StringVar(&c.Root, "root", ".", "the repository: stack.yml, stack.env.yml and infra/ are read from it")
	fs.StringVar(&c.BinDir, "bin", "bin", "directory holding connector, function, smtp-listener and scheduler (go build -o bin/ ./cmd/...)")
	fs.StringVar(&c.NATSServer, "nats-server", getenv("CALIOPEN_NATS_SERVER"), "the nats-server binary (scripts/cluster.sh builds it from go.mod's version)")
	fs.StringVar(&c.OpenFaaSGateway, "openfaas-gateway", getenv(EnvOpenFaaSGateway),
		"the OpenFaaS CE gateway's binary (scripts/cluster.sh builds it with scripts/test-peers/openfaas.sh)")
	fs.StringVar(&c.Prometheus, "prometheus", getenv(EnvPrometheus),
		"the Prometheus the gateway queries (scripts/test-peers/openfaas.sh installs Debian's)")
	fs.IntVar(&c.BasePort, "base-port", DefaultBasePort, "first port; the parts take the ports after it in turn (0: any free ports)")
	fs.StringVar(&c.Host, "host", "127.0.0.1", "address every part listens on")
	fs.IntVar(&c.FunctionReplicas, "replicas", 2, "replicas of each function that answers requests")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.StoreDSN = strings.TrimSpace(getenv(EnvStoreDSN))
	c.S3Endpoint = strings.TrimSpace(getenv(EnvS3Endpoint))
	c.S3AccessKey = strings.TrimSpace(getenv(EnvS3AccessKey))
	c.S3SecretKey = strings.TrimSpace(getenv(EnvS3SecretKey))
	c.EgressAllow = strings.TrimSpace(getenv(EnvEgressAllow))
	var errs []error
	if _, err := netguard.ParseAllow(c.EgressAllow); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvEgressAllow, err))
	}
	for name, v := range map[string]string{EnvStoreDSN: c.StoreDSN, EnvS3Endpoint: c.S3Endpoint,
		EnvS3AccessKey: c.S3AccessKey, EnvS3SecretKey: c.S3SecretKey, "-nats-server": c.NATSServer,
		"-openfaas-gateway": c.OpenFaaSGateway, "-prometheus": c.Prometheus} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: required (scripts/cluster.sh sets it)", name))
		}
	}
	if c.BasePort < 0 || c.BasePort > 65000 {
		errs = append(errs, fmt.Errorf("-base-port: %d is not a port", c.BasePort))
	}
	if c.FunctionReplicas < 1 {
		errs = append(errs, fmt.Errorf("-replicas: want at least 1, got %d", c.FunctionReplicas))
	}
	for _, p := range []*string{&c.DataDir, &c.Root, &c.BinDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			errs = append(errs, err)
		}
		*p = abs
	}
	for _, name := range []string{"connector", "function", "smtp-listener", "scheduler"} {
		if _, err := os.Stat(filepath.Join(c.BinDir, name)); err != nil {
			errs = append(errs, fmt.Errorf("-bin: %w (go build -o %s/ ./cmd/%s)", err, c.BinDir, name))
		}
	}
	if c.NATSServer != "" {
		if _, err := os.Stat(c.NATSServer); err != nil {
			errs = append(errs, fmt.Errorf("-nats-server: %w", err))
		}
	}
	for flag, bin := range map[string]string{"-openfaas-gateway": c.OpenFaaSGateway, "-prometheus": c.Prometheus} {
		if bin == "" {
			continue
		}
		if _, err := os.Stat(bin); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w (bash scripts/test-peers/openfaas.sh provides it)", flag, err))
		}
	}
	if errs := errors.Join(errs...); errs != nil {
		return c, errs
	}
	return c, nil
}
