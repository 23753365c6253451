package system

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/openfaas/faas-provider/auth"
	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/gateway"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsusers"
	"github.com/caliopen/functions/internal/provider"
)

// Process runs each function as OS processes of its own behind the
// gateway's OpenFaaS provider (package provider), from zero replicas.
type Process struct {
	// FunctionBin is the function binary (cmd/function); required.
	FunctionBin string
	// IdleTimeout is how long a replica may stay idle before it is
	// stopped (default provider.DefaultIdleTimeout).
	IdleTimeout time.Duration
	// Echo receives the lines the replicas write (nil: discarded).
	Echo io.Writer
}

// ClusterEnv are the prefixes of a deployment's settings that name a
// cluster's endpoints and the files of their secrets (store, blobs, NATS,
// keyring): the process isolation drops them and gives the replicas the
// local system's own.
var ClusterEnv = []string{"CALIOPEN_STORE_DSN", "CALIOPEN_BLOB_", "CALIOPEN_S3_", "NATS_", "CALIOPEN_SECRETS_KEYS"}

// invokeKeySecret is the secret holding the invocation key, as stack.yml
// names it.
const invokeKeySecret = provider.InvokeKeySecret

// Scale of the functions deployed at start in the process isolation: none
// runs until called, a few at most.
const (
	startScaleMin = 0
	startScaleMax = 4
)

// basicAuth returns the gateway's credentials kept in dir
// (basic-auth-user, basic-auth-password, owner-only), making them on first
// use as faasd does: the provider API deploys and configures what runs as
// the user, so anyone else able to reach the port must not use it.
func basicAuth(dir string) (*auth.BasicAuthCredentials, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway credentials: %w", err)
	}
	for name, value := range map[string]string{"basic-auth-user": "admin", "basic-auth-password": rand.Text()} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("gateway credentials: %w", err)
		}
		_, err = f.WriteString(value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("gateway credentials: %w", err)
		}
	}
	reader := auth.ReadBasicAuthFromDisk{SecretMountPath: dir}
	return reader.Read()
}

// startProvider starts the provider of -isolation=process with the
// deployments of earlier runs restored (package provider keeps them under
// the data directory) and every other function of the module deployed at
// zero replicas, and returns the
// gateway's functions: each a proxy to its replicas. The replicas get the
// local system's platform (its SQLite store, blob folder, NATS and keyring)
// over what a deployment says, and the invocation key as the secret
// caliopen-invoke-key, so they check the connector's signatures as a
// cluster's functions do.
func startProvider(cfg Config, c *contract.Contract, natsURL, keysFile, invokeKey string, reg prometheus.Registerer,
	logger *slog.Logger) (*provider.Provider, []gateway.Function, error) {
	pc := cfg.Process
	var names []string
	for _, spec := range functions.All() {
		names = append(names, spec.Name)
	}
	p, err := provider.New(provider.Config{
		Binary:    pc.FunctionBin,
		DataDir:   filepath.Join(cfg.DataDir, "provider"),
		Functions: names,
		Env: map[string]string{
			"CALIOPEN_STORE_DSN":         cmp.Or(cfg.StoreDSN, "sqlite://"+filepath.Join(cfg.DataDir, "caliopen.db")),
			"CALIOPEN_BLOB_BACKEND":      "dir",
			"CALIOPEN_BLOB_DIR":          filepath.Join(cfg.DataDir, "blobs"),
			"NATS_URL":                   natsURL,
			"CALIOPEN_SECRETS_KEYS_FILE": keysFile,
		},
		// Each function is its own NATS user, as on a cluster, and
		// listens on the system's address.
		FunctionEnv: func(fn string) map[string]string {
			return map[string]string{"NATS_USER": fn, "NATS_PASSWORD_FILE": natsusers.PasswordFile(cfg.DataDir, fn),
				"NATS_INBOX_PREFIX": natsusers.InboxPrefixOf(fn), "FUNCTION_HOST": cfg.Host}
		},
		DropEnv:     ClusterEnv,
		IdleTimeout: pc.IdleTimeout,
		Echo:        pc.Echo,
	}, reg, logger.With("part", "provider"))
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*provider.Provider, []gateway.Function, error) {
		p.Close()
		return nil, nil, err
	}
	if err := p.PutSecret(invokeKeySecret, []byte(invokeKey+"\n")); err != nil {
		return fail(err)
	}
	// What faas-cli deployed or removed in earlier runs stays so; the
	// module's other functions get the defaults below.
	saved, err := p.Saved()
	if err != nil {
		return fail(err)
	}
	for _, bad := range saved.Unreadable {
		logger.Warn("saved deployment not restored", "part", "provider", "err", bad)
	}
	done := map[string]bool{}
	for _, name := range saved.Removed {
		done[name] = true
	}
	for _, d := range saved.Deployments {
		if err := p.Deploy(d); err != nil {
			logger.Warn("saved deployment not restored", "part", "provider", "fn", d.Service, "err", err.Error())
			continue
		}
		done[d.Service] = true
	}
	var fns []gateway.Function
	for _, spec := range functions.All() {
		fns = append(fns, gateway.Function{Name: spec.Name, Handler: p.Function(spec.Name)})
		if done[spec.Name] {
			continue
		}
		d := types.FunctionDeployment{
			Service: spec.Name, Image: "local/" + spec.Name, Namespace: provider.Namespace,
			EnvVars: map[string]string{provider.EnvFunction: spec.Name},
			Labels: &map[string]string{provider.LabelScaleMin: strconv.Itoa(startScaleMin),
				provider.LabelScaleMax: strconv.Itoa(startScaleMax)},
		}
		if ann := annotations(c, spec.Name); len(ann) > 0 {
			d.Annotations = &ann
		}
		if spec.HTTP == nil {
			d.Secrets = []string{invokeKeySecret}
			d.EnvVars[invokeauth.EnvKey+"_FILE"] = provider.SecretsMount + invokeKeySecret
		} else {
			// The gateway's proxy appends the client's address to
			// X-Forwarded-For: the API sees clients, not the gateway.
			d.EnvVars["API_TRUSTED_PROXY_HOPS"] = "1"
		}
		if err := p.Deploy(d); err != nil {
			return fail(err)
		}
	}
	return p, fns, nil
}
