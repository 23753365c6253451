package deploy

import (
	"bytes"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kustomize "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	yamlv3 "go.yaml.in/yaml/v3"
)

// OpenFaaSFunction mirrors the openfaas.com/v1 Function custom resource of
// the OpenFaaS operator (faas-netes pkg/apis/openfaas/v1), which "faas-cli
// generate" writes by default; faas-netes has no module version the Go
// module proxy serves.
type OpenFaaSFunction struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              OpenFaaSFunctionSpec `json:"spec"`
}

// OpenFaaSFunctionSpec is a Function's spec.
type OpenFaaSFunctionSpec struct {
	Name                   string             `json:"name"`
	Image                  string             `json:"image"`
	Replicas               *int32             `json:"replicas,omitempty"`
	Handler                string             `json:"handler,omitempty"`
	Annotations            *map[string]string `json:"annotations,omitempty"`
	Labels                 *map[string]string `json:"labels,omitempty"`
	Environment            *map[string]string `json:"environment,omitempty"`
	Constraints            []string           `json:"constraints,omitempty"`
	Secrets                []string           `json:"secrets,omitempty"`
	Limits                 *OpenFaaSResources `json:"limits,omitempty"`
	Requests               *OpenFaaSResources `json:"requests,omitempty"`
	ReadOnlyRootFilesystem bool               `json:"readOnlyRootFilesystem,omitempty"`
}

// OpenFaaSResources are a Function's requests or limits.
type OpenFaaSResources struct {
	Memory string `json:"memory,omitempty"`
	CPU    string `json:"cpu,omitempty"`
}

// kinds maps "apiVersion kind" to a new object of the API type a manifest
// of that kind is decoded into. A kind not listed is an error: the project
// ships no other.
var kinds = map[string]func() any{
	"v1 ConfigMap":                                  func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                                     func() any { return &corev1.Secret{} },
	"v1 Service":                                    func() any { return &corev1.Service{} },
	"v1 Namespace":                                  func() any { return &corev1.Namespace{} },
	"v1 ServiceAccount":                             func() any { return &corev1.ServiceAccount{} },
	"apps/v1 Deployment":                            func() any { return &appsv1.Deployment{} },
	"apps/v1 StatefulSet":                           func() any { return &appsv1.StatefulSet{} },
	"policy/v1 PodDisruptionBudget":                 func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1 NetworkPolicy":            func() any { return &networkingv1.NetworkPolicy{} },
	KnativeAPIVersion + " Service":                  func() any { return &KnativeService{} },
	OpenFaaSAPIVersion + " Function":                func() any { return &OpenFaaSFunction{} },
	"kustomize.config.k8s.io/v1beta1 Kustomization": func() any { return &kustomize.Kustomization{} },
}

// DecodeStrict decodes one manifest into the API type of its apiVersion and
// kind, refusing a field the type does not have, a field given twice and a
// value of the wrong type.
func DecodeStrict(data []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return nil, fmt.Errorf("not a manifest: %w", err)
	}
	newObj, ok := kinds[tm.APIVersion+" "+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("apiVersion %q kind %q is not a kind this project deploys", tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	return obj, nil
}

// Bytes re-encodes the document alone.
func (d Doc) Bytes() ([]byte, error) {
	var b bytes.Buffer
	enc := yamlv3.NewEncoder(&b)
	if err := enc.Encode(&d.node); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Kustomize renders the kustomization in dir as "kubectl kustomize dir"
// does, with the kustomize library kubectl embeds, and returns its
// manifests one by one.
func Kustomize(dir string) ([][]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	var out [][]byte
	for _, r := range m.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("kustomize %s: %s: %w", dir, r.CurId(), err)
		}
		out = append(out, data)
	}
	return out, nil
}

// SplitDocs splits a YAML stream on its "---" lines, dropping empty
// documents.
func SplitDocs(data []byte) [][]byte {
	var out [][]byte
	for _, part := range strings.Split("\n"+string(data), "\n---") {
		if strings.TrimSpace(part) != "" {
			out = append(out, []byte(strings.TrimPrefix(part, "\n")))
		}
	}
	return out
}
