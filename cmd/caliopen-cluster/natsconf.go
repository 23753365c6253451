package main

import (
	"fmt"
	"strings"

	"github.com/caliopen/functions/deploy"
)

// natsNode is one NATS server's addresses.
type natsNode struct {
	Name                   string
	Client, Route, Monitor string // host:port
	StoreDir, PIDFile      string
}

// manifestNATSConf returns the nats.conf of the ConfigMap nats-config
// (infra/k8s/base/nats.yaml): the file the cluster's servers run.
func manifestNATSConf(docs []deploy.Doc) (string, error) {
	for _, d := range docs {
		var o struct {
			Kind     string                `yaml:"kind"`
			Metadata struct{ Name string } `yaml:"metadata"`
			Data     map[string]string     `yaml:"data"`
		}
		if d.Decode(&o) != nil || o.Kind != "ConfigMap" || o.Metadata.Name != "nats-config" {
			continue
		}
		if conf := o.Data["nats.conf"]; conf != "" {
			return conf, nil
		}
	}
	return "", fmt.Errorf("no ConfigMap nats-config with a nats.conf under infra/k8s/base")
}

// nodeNATSConf turns the manifest's nats.conf into node's: the same file
// with this machine's addresses and directories in place of the pod's
// (each replaced line must be found exactly once, so a changed manifest
// fails here rather than running something else), and a tls block for the
// clients. Routes between the servers stay plain on the loopback, as the
// manifest has them inside the cluster's network.
func nodeNATSConf(conf string, node natsNode, all []natsNode, certFile, keyFile string) (string, error) {
	lines := strings.Split(conf, "\n")
	replace := func(old, repl string) error {
		n := 0
		for i, l := range lines {
			if strings.TrimSpace(l) == old {
				indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
				lines[i] = indent + repl
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("nats.conf of infra/k8s/base/nats.yaml: want the line %q once, found it %d times", old, n)
		}
		return nil
	}
	steps := [][2]string{
		{"port: 4222", "listen: " + node.Client},
		{"http_port: 8222", "http: " + node.Monitor},
		{"port: 6222", "listen: " + node.Route},
		{"pid_file: /var/run/nats/nats.pid", "pid_file: " + quote(node.PIDFile)},
		{"store_dir: /data/jetstream", "store_dir: " + quote(node.StoreDir)},
	}
	for i, n := range all {
		steps = append(steps, [2]string{fmt.Sprintf("nats://nats-%d.nats-headless:6222", i), "nats://" + n.Route})
	}
	for _, s := range steps {
		if err := replace(s[0], s[1]); err != nil {
			return "", err
		}
	}
	out := strings.Join(lines, "\n")
	out += fmt.Sprintf("\n# Added by caliopen-cluster: TLS between the clients and the servers.\ntls {\n  cert_file: %s\n  key_file: %s\n  timeout: 5\n}\n",
		quote(certFile), quote(keyFile))
	return out, nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
