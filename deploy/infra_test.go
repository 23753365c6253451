package deploy

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/smtplistener"
)

// connectorEnv lists the environment variables the connector accepts.
var connectorEnv = connector.EnvNames()

const connectorDeployment = "caliopen-connector"

func readInfra(t *testing.T) (string, []Doc) {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), "infra")
	docs, err := ReadDocs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no YAML documents under infra/")
	}
	return dir, docs
}

// TestInfraManifests parses every YAML document under infra/: manifests
// must carry apiVersion, kind and metadata.name, kustomizations must name
// files that exist, and static topic maps must match the contract.
func TestInfraManifests(t *testing.T) {
	dir, docs := readInfra(t)
	c := contract.Caliopen()
	found := map[string]bool{}
	for _, d := range docs {
		if path.Base(d.File) == TopicMapFile {
			var routes []TopicRoute
			if err := d.Decode(&routes); err != nil {
				t.Errorf("%s: not a topic map: %v", d, err)
				continue
			}
			if len(routes) == 0 {
				t.Errorf("%s: empty topic map", d)
			}
			reportAll(t, CheckTopicMap(routes, c))
			continue
		}
		errs := CheckObject(d)
		reportAll(t, errs)
		if len(errs) > 0 {
			continue
		}
		var o Object
		if err := d.Decode(&o); err != nil {
			t.Fatal(err)
		}
		found[o.Kind+"/"+o.Metadata.Name] = true
		if o.Kind == "Kustomization" {
			reportAll(t, CheckKustomization(d, filepath.Join(dir, filepath.FromSlash(path.Dir(d.File)))))
		}
	}
	for _, want := range []string{
		"StatefulSet/nats",
		"ConfigMap/nats-config",
		"Service/nats",
		"Deployment/" + connectorDeployment,
		"Service/" + connectorDeployment,
		"ConfigMap/" + connectorDeployment,
		"NetworkPolicy/default-deny-ingress",
		"NetworkPolicy/nats-clients",
		"NetworkPolicy/smtp-listener",
		"NetworkPolicy/knative",
		"NetworkPolicy/openfaas-gateway",
	} {
		if !found[want] {
			t.Errorf("infra/ defines no %s", want)
		}
	}
}

// TestConnectorEnv checks that the connector Deployment, with its patches,
// is given only environment variables the connector accepts.
func TestConnectorEnv(t *testing.T) {
	_, docs := readInfra(t)
	names, errs := EnvOf(docs, connectorDeployment)
	reportAll(t, errs)
	reportAll(t, CheckEnvNames(connectorDeployment, names, connectorEnv))
	for _, want := range []string{"NATS_URL", "CONNECTOR_MODE", "HTTP_ADDR"} {
		if !slices.Contains(names, want) {
			t.Errorf("EnvOf(%s) = %v, want %s among them", connectorDeployment, names, want)
		}
	}
}

func TestEnvOf(t *testing.T) {
	_, docs := docsOf(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: app}
data: {NATS_URL: "nats://nats:4222", NATS_SERVER: nats}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  template:
    spec:
      containers:
        - name: app
          env:
            - {name: LOG_LEVEL, value: debug}
          envFrom:
            - configMapRef: {name: app}
            - secretRef: {name: absent}
            - secretRef: {name: maybe, optional: true}
`)
	names, errs := EnvOf(docs, "app")
	if want := []string{"LOG_LEVEL", "NATS_SERVER", "NATS_URL"}; !slices.Equal(names, want) {
		t.Errorf("EnvOf() names = %v, want %v", names, want)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "Secret absent") {
		t.Errorf("EnvOf() problems = %v, want one naming Secret absent", errs)
	}
	bad := CheckEnvNames("app", names, connectorEnv)
	if len(bad) != 1 || !strings.Contains(bad[0].Error(), "NATS_SERVER") {
		t.Errorf("CheckEnvNames() = %v, want one naming NATS_SERVER", bad)
	}
	if _, errs := EnvOf(docs, "other"); len(errs) != 1 {
		t.Errorf("EnvOf(other) problems = %v, want one", errs)
	}
}

func TestCheckTopicMap(t *testing.T) {
	c := contract.Caliopen()
	good := TopicRoute{Name: "inbound-email", URL: "http://inbound-email.caliopen-fn.svc.cluster.local", Topics: []string{"inboundSMTP"}}
	tests := []struct {
		name   string
		routes []TopicRoute
		want   int
	}{
		{name: "good", routes: []TopicRoute{good}},
		{name: "wrong topics", routes: []TopicRoute{{Name: good.Name, URL: good.URL, Topics: []string{"inboundSMTP", "outboundSMTP"}}}, want: 1},
		{name: "unknown function", routes: []TopicRoute{{Name: "api", URL: good.URL, Topics: []string{"inboundSMTP"}}}, want: 1},
		{name: "relative url", routes: []TopicRoute{{Name: good.Name, URL: "inbound-email", Topics: good.Topics}}, want: 1},
		{name: "listed twice", routes: []TopicRoute{good, good}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if errs := CheckTopicMap(tt.routes, c); len(errs) != tt.want {
				t.Errorf("CheckTopicMap() = %v, want %d problems", errs, tt.want)
			}
		})
	}
}

func TestCheckObject(t *testing.T) {
	dir, docs := docsOf(t, `
apiVersion: v1
kind: Service
metadata: {name: ok}
---
kind: Service
metadata: {}
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [m.yaml, missing.yaml]
---
- not
- a manifest
`)
	if len(docs) != 4 {
		t.Fatalf("ReadDocs() = %d documents, want 4", len(docs))
	}
	for i, want := range []int{0, 2, 0, 1} {
		if errs := CheckObject(docs[i]); len(errs) != want {
			t.Errorf("CheckObject(%s) = %v, want %d problems", docs[i], errs, want)
		}
	}
	if errs := CheckKustomization(docs[2], dir); len(errs) != 1 || !strings.Contains(errs[0].Error(), "missing.yaml") {
		t.Errorf("CheckKustomization() = %v, want one naming missing.yaml", errs)
	}
}

// docsOf writes text to m.yaml in a fresh folder and reads its documents.
func docsOf(t *testing.T, text string) (string, []Doc) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, err := ReadDocs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, docs
}

// configMap returns the data of the named ConfigMap under infra/.
func configMap(t *testing.T, name string) map[string]string {
	t.Helper()
	_, docs := readInfra(t)
	data := map[string]string{}
	for _, d := range docs {
		var cm struct {
			Kind     string                `yaml:"kind"`
			Metadata struct{ Name string } `yaml:"metadata"`
			Data     map[string]string     `yaml:"data"`
		}
		if d.Decode(&cm) == nil && cm.Kind == "ConfigMap" && cm.Metadata.Name == name {
			for k, v := range cm.Data {
				data[k] = v
			}
		}
	}
	if len(data) == 0 {
		t.Fatalf("no ConfigMap %s", name)
	}
	return data
}

// TestConnectorConfigMapLoads feeds the connector ConfigMap's values to the
// connector's own configuration loader: every value must be valid.
func TestConnectorConfigMapLoads(t *testing.T) {
	data := configMap(t, connectorDeployment)
	data["NATS_USER"], data["NATS_PASSWORD"] = "connector", "from-the-secret"
	if data["CALIOPEN_INVOKE_KEY_FILE"] == "" {
		t.Error("the connector has no invocation key file: the functions would refuse its calls")
	}
	data["CALIOPEN_INVOKE_KEY_FILE"] = filepath.Join(t.TempDir(), "caliopen-invoke-key")
	if err := os.WriteFile(data["CALIOPEN_INVOKE_KEY_FILE"], []byte(strings.Repeat("k", 64)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := connector.LoadConfig(func(k string) string { return data[k] })
	if err != nil {
		t.Errorf("the connector refuses its ConfigMap: %v", err)
	}
	// The functions, the scheduler and the listener publish orders into the
	// stream of the default name; a connector consuming another would
	// create a second stream on the same subjects.
	if def := connector.DefaultConfig().StreamName; cfg.StreamName != def {
		t.Errorf("the ConfigMap's STREAM_NAME is %q, want the default %q every other part uses", cfg.StreamName, def)
	}
}

// TestSMTPListenerConfigMapLoads does the same for the SMTP listener's limits.
func TestSMTPListenerConfigMapLoads(t *testing.T) {
	data := configMap(t, "caliopen-smtp-listener")
	if _, err := smtplistener.LoadConfig(func(k string) string { return data[k] }); err != nil {
		t.Errorf("the SMTP listener refuses its ConfigMap: %v", err)
	}
}

// TestStreamReplicas checks that the NATS cluster has a server for each
// replica the connector asks its streams to keep.
func TestStreamReplicas(t *testing.T) {
	cfg, err := connector.LoadConfig(func(k string) string {
		switch k {
		case "NATS_USER", "NATS_PASSWORD":
			return "x"
		case "CALIOPEN_INVOKE_KEY", "CALIOPEN_INVOKE_KEY_FILE":
			if k == "CALIOPEN_INVOKE_KEY" {
				return strings.Repeat("k", 32)
			}
			return ""
		}
		return configMap(t, connectorDeployment)[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	_, docs := readInfra(t)
	for _, d := range docs {
		data, err := d.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := DecodeStrict(data)
		if ss, ok := obj.(*appsv1.StatefulSet); err == nil && ok && ss.Name == "nats" {
			if ss.Spec.Replicas == nil || int(*ss.Spec.Replicas) < cfg.StreamReplicas {
				t.Errorf("StatefulSet nats has %v servers for STREAM_REPLICAS %d", ss.Spec.Replicas, cfg.StreamReplicas)
			}
			return
		}
	}
	t.Error("no StatefulSet nats under infra/")
}
