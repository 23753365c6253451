package deploy

import (
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
)

// TestKnativeServices checks the generated Services against the stack and
// the contract: pub/sub functions scale to zero, request/reply and HTTP
// functions keep a replica, each replica takes max_inflight requests at
// once, and the request timeout covers exec_timeout and stays below the
// requester's deadline.
func TestKnativeServices(t *testing.T) {
	s, err := ReadStack(filepath.Join(moduleRoot(t), "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	c := contract.Caliopen()
	services, err := KnativeServices(s, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(services) != len(s.Functions) {
		t.Fatalf("%d Services for %d stack entries", len(services), len(s.Functions))
	}
	sawZero, sawOne := false, false
	for _, svc := range services {
		f := s.Functions[svc.Name]
		b := BindingOf(c, svc.Name)
		wantMin := "0"
		if b.Deadline > 0 || len(b.Topics) == 0 {
			wantMin = "1"
		}
		if got := svc.Spec.Template.Annotations[AnnotationMinScale]; got != wantMin {
			t.Errorf("%s: min-scale %q, want %s (deadline %s, subjects %v)", svc.Name, got, wantMin, b.Deadline, b.Topics)
		}
		sawZero, sawOne = sawZero || wantMin == "0", sawOne || wantMin == "1"
		if got := strconv.FormatInt(*svc.Spec.Template.Spec.ContainerConcurrency, 10); got != f.Environment["max_inflight"] {
			t.Errorf("%s: containerConcurrency %s, want max_inflight %s", svc.Name, got, f.Environment["max_inflight"])
		}
		timeout := time.Duration(*svc.Spec.Template.Spec.TimeoutSeconds) * time.Second
		exec, _ := time.ParseDuration(f.Environment["exec_timeout"])
		if timeout < exec || (b.Deadline > 0 && timeout >= b.Deadline) {
			t.Errorf("%s: timeoutSeconds %s, want at least exec_timeout %s and below the deadline %s", svc.Name, timeout, exec, b.Deadline)
		}
		mounts := svc.Spec.Template.Spec.Containers[0].VolumeMounts
		if len(mounts) != len(f.Secrets) {
			t.Errorf("%s: %d secret mounts for %d secrets", svc.Name, len(mounts), len(f.Secrets))
		}
		for _, m := range mounts {
			if m.MountPath != SecretsPath+m.Name {
				t.Errorf("%s: secret %s mounted at %s", svc.Name, m.Name, m.MountPath)
			}
		}
	}
	if !sawZero || !sawOne {
		t.Errorf("no function scales to zero (%v) or none keeps a replica (%v)", sawZero, sawOne)
	}
}

// TestManifestsStrict decodes every manifest strictly into its Kubernetes
// or Knative API type: each document of infra/ (the topic map aside, which
// is the connector's file), each kustomization rendered as "kubectl
// kustomize" renders it, and what "faas-cli generate" makes from stack.yml
// for OpenFaaS's Function resource and for Knative.
func TestManifestsStrict(t *testing.T) {
	root := moduleRoot(t)
	dir, docs := readInfra(t)
	var kustomizations []string
	for _, d := range docs {
		if path.Base(d.File) == TopicMapFile {
			continue
		}
		data, err := d.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeStrict(data); err != nil {
			t.Errorf("%s: %v", d, err)
		}
		if path.Base(d.File) == "kustomization.yaml" {
			kustomizations = append(kustomizations, filepath.Join(dir, filepath.FromSlash(path.Dir(d.File))))
		}
	}
	if len(kustomizations) == 0 {
		t.Fatal("no kustomization under infra/")
	}
	for _, k := range kustomizations {
		rendered, err := Kustomize(k)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, m := range rendered {
			if _, err := DecodeStrict(m); err != nil {
				t.Errorf("kustomize %s: %v\n%s", k, err, m)
			}
		}
		t.Logf("kustomize %s: %d manifests", k, len(rendered))
	}
	s, err := ReadStack(filepath.Join(root, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, api := range []string{OpenFaaSAPIVersion, KnativeAPIVersion} {
		out, err := FaasCLIGenerate(s, api, "caliopen-fn")
		if err != nil {
			t.Fatal(err)
		}
		manifests := SplitDocs(out)
		if len(manifests) != len(s.Functions) {
			t.Errorf("faas-cli generate --api=%s: %d manifests for %d functions", api, len(manifests), len(s.Functions))
		}
		for _, m := range manifests {
			if _, err := DecodeStrict(m); err != nil {
				t.Errorf("faas-cli generate --api=%s: %v\n%s", api, err, m)
			}
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 2
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
        - name: app
          image: app:dev
`
	const service = `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: fn}
spec:
  template:
    metadata:
      annotations: {autoscaling.knative.dev/min-scale: "0"}
    spec:
      containerConcurrency: 50
      timeoutSeconds: 9
      containers:
        - image: fn:dev
`
	const policy = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: nats-clients}
spec:
  podSelector: {matchLabels: {app: nats}}
  policyTypes: ["Ingress"]
  ingress:
    - from: [{podSelector: {}}]
      ports: [{port: client}]
`
	tests := []struct {
		name, doc, wantErr string
	}{
		{name: "deployment", doc: deployment},
		{name: "network policy", doc: policy},
		{name: "misspelt network policy field", doc: strings.Replace(policy, "podSelector: {}", "podSelektor: {}", 1),
			wantErr: `unknown field "podSelektor"`},
		{name: "knative service", doc: service},
		{name: "misspelt field", doc: strings.Replace(deployment, "replicas:", "replica:", 1), wantErr: `unknown field "replica"`},
		{name: "misspelt knative field", doc: strings.Replace(service, "containerConcurrency:", "containerConcurency:", 1),
			wantErr: `unknown field "containerConcurency"`},
		{name: "wrong value type", doc: strings.Replace(deployment, "replicas: 2", "replicas: two", 1), wantErr: "replicas"},
		{name: "field twice", doc: strings.Replace(deployment, "  replicas: 2\n", "  replicas: 2\n  replicas: 3\n", 1), wantErr: "replicas"},
		{name: "wrong kind", doc: strings.Replace(deployment, "kind: Deployment", "kind: Deploymnet", 1), wantErr: "not a kind this project deploys"},
		{name: "kind of another API", doc: strings.Replace(deployment, "apps/v1", "v1", 1), wantErr: "not a kind this project deploys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeStrict([]byte(tt.doc))
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("DecodeStrict() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
