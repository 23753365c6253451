package deploy

import (
	"path/filepath"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// endpoint is a pod (namespace and labels), or a client outside the
// cluster when ns is empty.
type endpoint struct {
	ns     string
	labels map[string]string
}

// port is a container port: its name and number.
type port struct {
	name   string
	number int32
}

// allowed says whether the policies let from open a connection to port of
// to, as the NetworkPolicy API defines it: a pod no ingress policy selects
// takes every connection; a selected one only those a rule of a selecting
// policy allows.
func allowed(t *testing.T, policies []networkingv1.NetworkPolicy, from, to endpoint, p port) bool {
	t.Helper()
	match := func(sel *metav1.LabelSelector, set map[string]string) bool {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatal(err)
		}
		return s.Matches(labels.Set(set))
	}
	selected := false
	for _, np := range policies {
		if np.Namespace != to.ns || !match(&np.Spec.PodSelector, to.labels) {
			continue
		}
		selected = true
		for _, rule := range np.Spec.Ingress {
			portOK := len(rule.Ports) == 0
			for _, rp := range rule.Ports {
				if rp.Port == nil || (rp.Port.Type == intstr.String && rp.Port.StrVal == p.name) ||
					(rp.Port.Type == intstr.Int && rp.Port.IntVal == p.number) {
					portOK = true
				}
			}
			peerOK := len(rule.From) == 0
			for _, peer := range rule.From {
				if peer.IPBlock != nil {
					t.Fatalf("policy %s/%s: ipBlock peers are not evaluated by this test", np.Namespace, np.Name)
				}
				if from.ns == "" {
					continue
				}
				nsOK := from.ns == np.Namespace
				if peer.NamespaceSelector != nil {
					nsOK = match(peer.NamespaceSelector, map[string]string{"kubernetes.io/metadata.name": from.ns})
				}
				podOK := peer.PodSelector == nil || match(peer.PodSelector, from.labels)
				if nsOK && podOK {
					peerOK = true
				}
			}
			if portOK && peerOK {
				return true
			}
		}
	}
	return !selected
}

// TestNetworkPolicies renders each kustomization and checks who reaches
// what: NATS only from the caliopen namespace and the functions', SMTP
// from anywhere, the functions only through their platform's gateway or
// ingress.
func TestNetworkPolicies(t *testing.T) {
	root := moduleRoot(t)
	name := func(n string) map[string]string { return map[string]string{"app.kubernetes.io/name": n} }
	var (
		outside   = endpoint{}
		connector = endpoint{"caliopen", name("caliopen-connector")}
		listener  = endpoint{"caliopen", name("caliopen-smtp-listener")}
		nats      = endpoint{"caliopen", name("nats")}
		scheduler = endpoint{"caliopen", name("caliopen-scheduler")}
		ofFn      = endpoint{"openfaas-fn", map[string]string{"faas_function": "smtp-deliver"}}
		knFn      = endpoint{"caliopen-fn", map[string]string{"serving.knative.dev/service": "smtp-deliver"}}
		knAPI     = endpoint{"caliopen-fn", map[string]string{"serving.knative.dev/service": "api"}}
		gateway   = endpoint{"openfaas", map[string]string{"app": "gateway"}}
		ofOther   = endpoint{"openfaas", map[string]string{"app": "nats"}}
		activator = endpoint{"knative-serving", map[string]string{"app": "activator"}}
		kourier   = endpoint{"kourier-system", map[string]string{"app": "3scale-kourier-gateway"}}
		elsewhere = endpoint{"default", name("caliopen-connector")}
		client    = port{"client", 4222}
		route     = port{"cluster", 6222}
		smtp      = port{"smtp", 2525}
		lmtp      = port{"lmtp", 2424}
		http      = port{"http", 8081}
		watchdog  = port{"http", 8080}
		queue     = port{"http1", 8012}
	)
	tests := []struct {
		dir      string
		what     string
		from, to endpoint
		port     port
		want     bool
	}{
		{"k8s/base", "connector to NATS", connector, nats, client, true},
		{"k8s/base", "listener to NATS", listener, nats, client, true},
		{"k8s/base", "scheduler to NATS", scheduler, nats, client, true},
		{"k8s/base", "an OpenFaaS function to NATS", ofFn, nats, client, true},
		{"k8s/base", "a Knative function to NATS", knFn, nats, client, true},
		{"k8s/base", "another namespace to NATS", elsewhere, nats, client, false},
		{"k8s/base", "outside to NATS", outside, nats, client, false},
		{"k8s/base", "a NATS route between servers", nats, nats, route, true},
		{"k8s/base", "a function to a NATS route", knFn, nats, route, false},
		{"k8s/base", "outside to SMTP", outside, listener, smtp, true},
		{"k8s/base", "another namespace to SMTP", elsewhere, listener, smtp, true},
		{"k8s/base", "outside to LMTP", outside, listener, lmtp, false},
		{"k8s/base", "an MTA beside the listener to LMTP", connector, listener, lmtp, true},
		{"k8s/base", "outside to the connector's metrics", outside, connector, http, false},
		{"k8s/base", "a function to the connector's metrics", knFn, connector, http, false},
		{"openfaas", "the gateway to a function", gateway, ofFn, watchdog, true},
		{"openfaas", "another OpenFaaS pod to a function", ofOther, ofFn, watchdog, false},
		{"openfaas", "the connector straight to a function", connector, ofFn, watchdog, false},
		{"openfaas", "outside to a function", outside, ofFn, watchdog, false},
		{"knative", "the activator to a function", activator, knFn, queue, true},
		{"knative", "the ingress to api", kourier, knAPI, queue, true},
		{"knative", "the connector straight to a function", connector, knFn, queue, false},
		{"knative", "another namespace to a function", elsewhere, knFn, queue, false},
		{"knative", "outside to a function", outside, knFn, queue, false},
		{"knative", "outside to NATS", outside, nats, client, false},
	}
	rendered := map[string][]networkingv1.NetworkPolicy{}
	for _, tt := range tests {
		if _, ok := rendered[tt.dir]; ok {
			continue
		}
		docs, err := Kustomize(filepath.Join(root, "infra", filepath.FromSlash(tt.dir)))
		if err != nil {
			t.Fatal(err)
		}
		var nps []networkingv1.NetworkPolicy
		for _, d := range docs {
			var np networkingv1.NetworkPolicy
			if err := yaml.Unmarshal(d, &np); err == nil && np.Kind == "NetworkPolicy" {
				nps = append(nps, np)
			}
		}
		if len(nps) == 0 {
			t.Fatalf("infra/%s renders no NetworkPolicy", tt.dir)
		}
		rendered[tt.dir] = nps
	}
	for _, tt := range tests {
		if got := allowed(t, rendered[tt.dir], tt.from, tt.to, tt.port); got != tt.want {
			t.Errorf("infra/%s: %s: allowed = %v, want %v", tt.dir, tt.what, got, tt.want)
		}
	}
}
