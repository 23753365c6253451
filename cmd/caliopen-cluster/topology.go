package main

import (
	"fmt"
	"maps"
	"math"
	mathrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openfaas/faas-provider/types"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/caliopen/functions/deploy"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/provider"
)

// The gateway's timeouts: above the longest function's (imap-fetch's
// exec_timeout, 58 s).
const (
	upstreamTimeout = 65 * time.Second
	gatewayTimeout  = 70 * time.Second
	// gatewayUser is the gateway's basic-auth user, as OpenFaaS names it.
	gatewayUser = "admin"
)

// The manifests' Deployments the cluster runs, two replicas each as
// infra/k8s/base has them.
const (
	deploymentConnector = "caliopen-connector"
	deploymentListener  = "caliopen-smtp-listener"
	deploymentScheduler = "caliopen-scheduler"
	podReplicas         = 2
	natsServers         = 3
)

// Where the manifests mount secrets, and where the cluster keeps them.
const (
	podSecretsMount = "/var/secrets/"
	fnSecretsMount  = "/var/openfaas/secrets/"
	topicMapMount   = "/etc/caliopen/"
)

// ports hands out the cluster's ports: base, base+1... or, with base 0,
// free ports below the system's ephemeral range, which the functions'
// replicas draw from (the provider starts them on port 0): a port of the
// cluster is never taken by a replica started before its process, or
// while it restarts. A taken port is an error: the summary would lie.
type ports struct {
	host string
	next int
	// held keeps each free port picked open until release, so that the
	// system does not pick it twice.
	held []net.Listener
}

// Where free ports are looked for with base 0: from lowPort to the
// ephemeral range's first port.
const lowPort = 10000

func (p *ports) take() (string, error) {
	if p.next == 0 {
		limit := ephemeralLow()
		for range 1000 {
			port := lowPort + mathrand.IntN(limit-lowPort)
			l, err := net.Listen("tcp", net.JoinHostPort(p.host, strconv.Itoa(port)))
			if err != nil {
				continue
			}
			p.held = append(p.held, l)
			return l.Addr().String(), nil
		}
		return "", fmt.Errorf("no free port between %d and %d", lowPort, limit)
	}
	addr := net.JoinHostPort(p.host, strconv.Itoa(p.next))
	p.next++
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("port %s is taken (-base-port moves the cluster's ports): %w", addr, err)
	}
	return addr, l.Close()
}

// ephemeralLow is the first port of the system's ephemeral range (Linux's
// default, 32768, when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lowPort+1000 {
				return n
			}
		}
	}
	return 32768
}

// release closes the ports held.
func (p *ports) release() {
	for _, l := range p.held {
		l.Close()
	}
	p.held = nil
}

// topology is every process of the cluster and what they share.
type topology struct {
	NATS []*proc
	// Gateway is the OpenFaaS CE gateway, in front of the provider, and
	// Prometheus the one it queries.
	Gateway    *proc
	Prometheus *proc
	Connectors []*proc
	Listeners  []*proc
	Schedulers []*proc
	// GatewayAddr is where the OpenFaaS gateway listens.
	GatewayAddr string
	// ProviderAddr is where the provider's API listens (the gateway's
	// functions_provider_url).
	ProviderAddr string
	// Deployments are stack.yml's entries, as the provider runs them.
	Deployments []types.FunctionDeployment
	// ProviderEnv are the settings of this machine every replica gets
	// over its deployment's; FunctionEnv, those of one function.
	ProviderEnv map[string]string
	FunctionEnv map[string]map[string]string
	// Secrets are the provider's secrets the deployments name, by name.
	Secrets map[string]string
	// Warnings are what the cluster mended in stack.yml's entries.
	Warnings []string
	// NATSURL is the clients' URL list (tls://...).
	NATSURL string
	// LocalDomain is the API's domain of local addresses.
	LocalDomain string
}

// All lists the processes in start order.
func (t *topology) All() []*proc {
	all := append(slices.Clone(t.NATS), t.Prometheus, t.Gateway)
	all = append(all, t.Connectors...)
	all = append(all, t.Listeners...)
	return append(all, t.Schedulers...)
}

// build reads the manifests and the stack and lays out the processes.
func build(cfg config, sec *secrets) (*topology, error) {
	docs, err := deploy.ReadDocs(filepath.Join(cfg.Root, "infra", "k8s", "base"))
	if err != nil {
		return nil, fmt.Errorf("read infra/k8s/base: %w", err)
	}
	stack, err := deploy.ReadStack(filepath.Join(cfg.Root, "stack.yml"))
	if err != nil {
		return nil, fmt.Errorf("read stack.yml: %w", err)
	}
	c := contract.Caliopen()
	fnNames := slices.Sorted(maps.Keys(stack.Functions))
	users, err := deploy.NATSUsers(c, fnNames)
	if err != nil {
		return nil, err
	}
	pt := &ports{host: cfg.Host, next: cfg.BasePort}
	defer pt.release()
	t := &topology{}
	logDir := filepath.Join(cfg.DataDir, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, err
	}
	newProc := func(name, kind, bin string) *proc {
		return &proc{Name: name, Kind: kind, bin: bin, Addrs: map[string]string{}, log: filepath.Join(logDir, name+".log")}
	}

	// NATS: three servers of the manifest's nats.conf.
	conf, err := manifestNATSConf(docs)
	if err != nil {
		return nil, err
	}
	nodes := make([]natsNode, natsServers)
	for i := range nodes {
		n := &nodes[i]
		n.Name = fmt.Sprintf("nats-%d", i)
		dir := filepath.Join(cfg.DataDir, "nats", n.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		n.StoreDir, n.PIDFile = filepath.Join(dir, "jetstream"), filepath.Join(dir, "nats.pid")
		for _, a := range []*string{&n.Client, &n.Route, &n.Monitor} {
			if *a, err = pt.take(); err != nil {
				return nil, err
			}
		}
	}
	natsEnv := []string{}
	for _, u := range users {
		pw, err := sec.NATSPassword(u.Name)
		if err != nil {
			return nil, err
		}
		natsEnv = append(natsEnv, u.PasswordEnv()+"="+pw)
	}
	var urls []string
	for _, n := range nodes {
		text, err := nodeNATSConf(conf, n, nodes, sec.ServerCert, sec.ServerKey)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(cfg.DataDir, "nats", n.Name, "nats.conf")
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			return nil, err
		}
		p := newProc(n.Name, "nats", cfg.NATSServer)
		p.args = []string{"--config", file}
		p.env = append([]string{"SERVER_NAME=" + n.Name, "PATH=" + os.Getenv("PATH")}, natsEnv...)
		p.Addrs = map[string]string{"client": n.Client, "route": n.Route, "monitor": n.Monitor}
		p.probe = httpProbe("http://" + n.Monitor + "/healthz")
		t.NATS = append(t.NATS, p)
		urls = append(urls, "tls://"+n.Client)
	}
	t.NATSURL = strings.Join(urls, ",")

	// The OpenFaaS gateway listens on loopback (scripts/test-peers/openfaas.sh
	// builds it so), whatever -host says.
	var gwMetrics, promAddr string
	for _, a := range []*string{&t.GatewayAddr, &gwMetrics, &promAddr, &t.ProviderAddr} {
		if *a, err = pt.take(); err != nil {
			return nil, err
		}
	}
	for _, a := range []*string{&t.GatewayAddr, &gwMetrics, &promAddr} {
		_, port, _ := net.SplitHostPort(*a)
		*a = net.JoinHostPort("127.0.0.1", port)
	}
	// The secrets the manifests name, as files and as values.
	files := map[string]string{
		"store/dsn":                   cfg.StoreDSN,
		"store/s3-secret-key":         cfg.S3SecretKey,
		"invoke/caliopen-invoke-key":  sec.InvokeKey,
		"caliopen-store-dsn":          cfg.StoreDSN,
		"caliopen-s3-secret-key":      cfg.S3SecretKey,
		"caliopen-invoke-key":         sec.InvokeKey,
		"caliopen-twitter-app-secret": "",
	}
	keyring, err := os.ReadFile(sec.Keyring)
	if err != nil {
		return nil, err
	}
	files["store/keys"], files["caliopen-keys"] = string(keyring), string(keyring)
	if files["caliopen-twitter-app-secret"], err = sec.random("twitter-app-secret", 16); err != nil {
		return nil, err
	}
	files["gateway/basic-auth-user"], files["gateway/basic-auth-password"] = gatewayUser, sec.GatewayPassword
	values := map[string]string{"caliopen-store-access/CALIOPEN_S3_ACCESS_KEY": cfg.S3AccessKey}
	for _, u := range users {
		pw, _ := sec.NATSPassword(u.Name)
		values["caliopen-nats-auth/"+u.PasswordEnv()] = pw
		files[deploy.NATSSecretOf(u.Name)] = pw
	}
	mounts := filepath.Join(cfg.DataDir, "mounts")
	for name, v := range files {
		path := filepath.Join(mounts, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			return nil, err
		}
	}
	// The endpoints of this machine, over the manifests' cluster names.
	common := map[string]string{
		"NATS_URL":               t.NATSURL,
		"NATS_TLS_CA_FILE":       sec.CA,
		"CALIOPEN_S3_ENDPOINT":   cfg.S3Endpoint,
		"CALIOPEN_S3_ACCESS_KEY": cfg.S3AccessKey,
		"PATH":                   os.Getenv("PATH"),
	}
	// A path a manifest mounts a secret (or the topic map) at, under the
	// data directory.
	localPath := func(v string) (string, bool) {
		for _, m := range []string{podSecretsMount, fnSecretsMount} {
			if rest, ok := strings.CutPrefix(v, m); ok {
				return filepath.Join(mounts, filepath.FromSlash(rest)), true
			}
		}
		if rest, ok := strings.CutPrefix(v, topicMapMount); ok {
			return filepath.Join(cfg.DataDir, rest), true
		}
		return "", false
	}
	envList := func(env map[string]string, over map[string]string) ([]string, error) {
		out := []string{}
		var errs []string
		merged := maps.Clone(env)
		maps.Copy(merged, common)
		maps.Copy(merged, over)
		for _, k := range slices.Sorted(maps.Keys(merged)) {
			v := merged[k]
			if ref, ok := strings.CutPrefix(v, "secret "); ok {
				val, found := values[ref]
				if !found {
					errs = append(errs, fmt.Sprintf("%s: no value for secret %s", k, ref))
				}
				v = val
			} else if p, ok := localPath(v); ok {
				// A secret the cluster does not make (an optional one,
				// such as the relay's password) has no file: the program
				// says so if it needs it.
				v = p
			}
			out = append(out, k+"="+v)
		}
		if len(errs) > 0 {
			return nil, fmt.Errorf("environment: %s", strings.Join(errs, "; "))
		}
		return out, nil
	}

	// Functions: each stack entry as a deployment of the provider, as
	// faas-cli deploy -f stack.yml would post it to the gateway; the
	// replicas get the endpoints of this machine over the entry's own.
	t.ProviderEnv = map[string]string{
		"NATS_URL":               t.NATSURL,
		"NATS_TLS_CA_FILE":       sec.CA,
		"CALIOPEN_S3_ENDPOINT":   cfg.S3Endpoint,
		"CALIOPEN_S3_ACCESS_KEY": cfg.S3AccessKey,
		"FUNCTION_HOST":          cfg.Host,
	}
	if cfg.EgressAllow != "" {
		t.ProviderEnv[EnvEgressAllow] = cfg.EgressAllow
	}
	t.FunctionEnv = map[string]map[string]string{}
	t.Secrets = map[string]string{}
	for _, name := range fnNames {
		f := stack.Functions[name]
		env := map[string]string{}
		for k, v := range f.Environment {
			if env[k], err = deploy.Expand(v, func(string) string { return "" }); err != nil {
				return nil, fmt.Errorf("function %s: %s: %w", name, k, err)
			}
		}
		if name == "api" {
			t.LocalDomain = env["CALIOPEN_LOCAL_DOMAIN"]
		}
		// At least -replicas of a function that answers requests: its
		// minimum raised, as faas-cli deploy --label would.
		labels := maps.Clone(f.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		n := 1
		if m, err := strconv.Atoi(labels[provider.LabelScaleMin]); err == nil && m > n {
			n = m
		}
		if answersRequests(c, name) && n < cfg.FunctionReplicas {
			n = cfg.FunctionReplicas
		}
		labels[provider.LabelScaleMin] = strconv.Itoa(n)
		if m, err := strconv.Atoi(labels[provider.LabelScaleMax]); err != nil || m < n {
			labels[provider.LabelScaleMax] = strconv.Itoa(n)
		}
		image, err := deploy.Expand(f.Image, func(string) string { return "" })
		if err != nil {
			return nil, fmt.Errorf("function %s: image: %w", name, err)
		}
		d := types.FunctionDeployment{Service: name, Image: image, Namespace: provider.Namespace, EnvVars: env,
			Labels: &labels, Secrets: slices.Clone(f.Secrets)}
		// A secret the environment reads but the entry does not mount
		// (stack.env.yml's keyring, for a function that never opens it)
		// would stop the replica at its start, as on OpenFaaS: mounted
		// here, and said.
		for _, k := range slices.Sorted(maps.Keys(env)) {
			if secret, ok := strings.CutPrefix(env[k], provider.SecretsMount); ok && !slices.Contains(d.Secrets, secret) {
				if _, made := files[secret]; made {
					d.Secrets = append(d.Secrets, secret)
					t.Warnings = append(t.Warnings, fmt.Sprintf("stack.yml: %s reads %s from secret %s, which its secrets do not list: mounted here", name, k, secret))
				}
			}
		}
		if len(f.Annotations) > 0 {
			ann := maps.Clone(f.Annotations)
			d.Annotations = &ann
		}
		if len(f.Limits) > 0 {
			d.Limits = &types.FunctionResources{Memory: f.Limits["memory"], CPU: f.Limits["cpu"]}
		}
		if len(f.Requests) > 0 {
			d.Requests = &types.FunctionResources{Memory: f.Requests["memory"], CPU: f.Requests["cpu"]}
		}
		t.Deployments = append(t.Deployments, d)
		// GOMAXPROCS from the CPU limit, as Go derives it in a container.
		fenv := map[string]string{"NATS_CLIENT_NAME": "fn-" + name}
		if procs := cpuProcs(f.Limits["cpu"]); procs > 0 {
			fenv["GOMAXPROCS"] = strconv.Itoa(procs)
		}
		t.FunctionEnv[name] = fenv
		// The secrets the entry names, made by the cluster; one it does
		// not make (an optional one, such as the relay's password) stays
		// absent, as a missing optional secret does on OpenFaaS.
		for _, s := range f.Secrets {
			if v, ok := files[s]; ok {
				t.Secrets[s] = v
			}
		}
	}

	// The OpenFaaS CE gateway in front of the provider: the connectors
	// read the functions' topics from its /system/functions and invoke
	// them through it; basic auth with the credentials the connector
	// mounts at its secret_mount_path.
	gw := newProc("openfaas-gateway", "gateway", cfg.OpenFaaSGateway)
	_, gwPort, _ := net.SplitHostPort(t.GatewayAddr)
	_, metricsPort, _ := net.SplitHostPort(gwMetrics)
	_, promPort, _ := net.SplitHostPort(promAddr)
	gw.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"functions_provider_url=http://" + t.ProviderAddr + "/",
		"basic_auth=true", "secret_mount_path=" + filepath.Join(mounts, "gateway"),
		// Its Prometheus: /system/functions mixes in the invocation
		// counts it queries there (and fails without one).
		"faas_prometheus_host=127.0.0.1", "faas_prometheus_port=" + promPort,
		"read_timeout=" + gatewayTimeout.String(), "write_timeout=" + gatewayTimeout.String(),
		"upstream_timeout=" + upstreamTimeout.String(),
		"CALIOPEN_GATEWAY_PORT=" + gwPort, "CALIOPEN_GATEWAY_METRICS_PORT=" + metricsPort,
	}
	gw.Addrs = map[string]string{"http": t.GatewayAddr, "metrics": gwMetrics}
	gw.probe = httpProbe("http://" + t.GatewayAddr + "/healthz")
	t.Gateway = gw

	// Prometheus, scraping the gateway's metrics, as OpenFaaS runs it.
	promDir := filepath.Join(cfg.DataDir, "prometheus")
	if err := os.MkdirAll(promDir, 0o700); err != nil {
		return nil, err
	}
	promCfg := filepath.Join(promDir, "prometheus.yml")
	if err := os.WriteFile(promCfg, fmt.Appendf(nil, `global:
  scrape_interval: 5s
  evaluation_interval: 5s
scrape_configs:
  - job_name: gateway
    static_configs:
      - targets: ["%s"]
`, gwMetrics), 0o600); err != nil {
		return nil, err
	}
	prom := newProc("prometheus", "prometheus", cfg.Prometheus)
	prom.args = []string{"--config.file=" + promCfg, "--web.listen-address=" + promAddr,
		"--storage.tsdb.path=" + filepath.Join(promDir, "tsdb"), "--storage.tsdb.retention.time=2d", "--log.level=warn"}
	prom.env = []string{"PATH=" + os.Getenv("PATH")}
	prom.Addrs = map[string]string{"http": promAddr}
	prom.probe = httpProbe("http://" + promAddr + "/-/ready")
	t.Prometheus = prom

	pods := []struct {
		deployment, kind string
		dst              *[]*proc
		addrs            []string // variable names of the addresses it listens on
		probe            string   // variable of the address probed; path for HTTP
		path             string
	}{
		{deploymentConnector, "connector", &t.Connectors, []string{"HTTP_ADDR"}, "HTTP_ADDR", "/readyz"},
		{deploymentListener, "smtp-listener", &t.Listeners, []string{"SMTP_LISTEN_ADDR", "LMTP_LISTEN_ADDR"}, "SMTP_LISTEN_ADDR", ""},
		{deploymentScheduler, "scheduler", &t.Schedulers, []string{"SCHEDULER_HTTP_ADDR"}, "SCHEDULER_HTTP_ADDR", "/healthz"},
	}
	for _, pod := range pods {
		env, errs := deploy.EnvValues(docs, pod.deployment)
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s: %v", pod.deployment, errs)
		}
		for i := range podReplicas {
			p := newProc(fmt.Sprintf("%s-%d", pod.kind, i), pod.kind, filepath.Join(cfg.BinDir, pod.kind))
			over := map[string]string{"NATS_CLIENT_NAME": p.Name}
			if pod.deployment == deploymentConnector {
				over["GATEWAY_URL"] = "http://" + t.GatewayAddr
			}
			for _, v := range pod.addrs {
				if _, ok := env[v]; !ok {
					return nil, fmt.Errorf("%s: no %s in its environment", pod.deployment, v)
				}
				if over[v], err = pt.take(); err != nil {
					return nil, err
				}
				p.Addrs[strings.ToLower(strings.TrimSuffix(v, "_ADDR"))] = over[v]
			}
			if p.env, err = envList(env, over); err != nil {
				return nil, fmt.Errorf("%s: %w", pod.deployment, err)
			}
			if pod.path != "" {
				p.probe = httpProbe("http://" + over[pod.probe] + pod.path)
			} else {
				p.probe = tcpProbe(over[pod.probe])
			}
			*pod.dst = append(*pod.dst, p)
		}
	}
	return t, nil
}

// answersRequests says whether a function serves requests (a request/reply
// subject, or HTTP): those run several replicas.
func answersRequests(c *contract.Contract, name string) bool {
	subs := c.SubjectsOf(name)
	if len(subs) == 0 {
		return true // an HTTP function (api)
	}
	for _, s := range subs {
		if s.HasRequests() {
			return true
		}
	}
	return false
}

// cpuProcs is GOMAXPROCS for a CPU limit, as Go derives it inside a
// container limited so: the limit rounded up; 0 without a limit.
func cpuProcs(limit string) int {
	if limit == "" {
		return 0
	}
	q, err := resource.ParseQuantity(limit)
	if err != nil {
		return 0
	}
	return max(1, int(math.Ceil(q.AsApproximateFloat64())))
}
