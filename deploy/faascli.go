package deploy

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// API versions "faas-cli generate --api" accepts.
const (
	OpenFaaSAPIVersion = "openfaas.com/v1"
)

// FaasCLIGenerate writes what "faas-cli generate --api=<api> --namespace
// <namespace> -f stack.yml" prints for the stack, with the environment's
// variables unset: one Function custom resource per entry for
// openfaas.com/v1, one Knative Service for serving.knative.dev/v1, entries
// in name order, each document after "---". faas-cli itself cannot be
// fetched through the Go module proxy (it has no semantic version tags);
// this reproduces the shape its generate command writes (faas-cli
// commands/generate.go and schema/, read from its public source), so that
// the manifests an operator would apply are checked with the rest.
func FaasCLIGenerate(s *Stack, api, namespace string) ([]byte, error) {
	noEnv := func(string) string { return "" }
	var b bytes.Buffer
	for _, name := range sortedKeys(s.Functions) {
		f := s.Functions[name]
		image, err := Expand(f.Image, noEnv)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", name, err)
		}
		env := map[string]string{}
		for k, v := range f.Environment {
			if env[k], err = Expand(v, noEnv); err != nil {
				return nil, fmt.Errorf("function %s: environment %s: %w", name, k, err)
			}
		}
		var doc any
		switch api {
		case OpenFaaSAPIVersion:
			doc = cliFunction{APIVersion: api, Kind: "Function", Metadata: cliMetadata{Name: name, Namespace: namespace},
				Spec: cliFunctionSpec{Name: name, Image: image, Environment: env, Labels: optional(f.Labels),
					Annotations: optional(f.Annotations), Limits: optional(f.Limits), Requests: optional(f.Requests),
					Secrets: f.Secrets}}
		case KnativeAPIVersion:
			svc := cliService{APIVersion: api, Kind: "Service",
				Metadata: cliMetadata{Name: name, Namespace: namespace, Annotations: f.Annotations}}
			c := cliContainer{Image: image}
			for _, k := range sortedKeys(env) {
				c.Env = append(c.Env, cliEnv{Name: k, Value: env[k]})
			}
			for _, secret := range f.Secrets {
				c.VolumeMounts = append(c.VolumeMounts, cliMount{Name: secret, MountPath: SecretsPath + secret, ReadOnly: true})
				svc.Spec.Template.Spec.Volumes = append(svc.Spec.Template.Spec.Volumes,
					cliVolume{Name: secret, Secret: cliSecret{SecretName: secret}})
			}
			svc.Spec.Template.Spec.Containers = []cliContainer{c}
			doc = svc
		default:
			return nil, fmt.Errorf("api %q: want %s or %s", api, OpenFaaSAPIVersion, KnativeAPIVersion)
		}
		b.WriteString("---\n")
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

func optional(m map[string]string) *map[string]string {
	if m == nil {
		return nil
	}
	return &m
}

type cliMetadata struct {
	Name        string            `yaml:"name,omitempty"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type cliFunction struct {
	APIVersion string          `yaml:"apiVersion"`
	Kind       string          `yaml:"kind"`
	Metadata   cliMetadata     `yaml:"metadata"`
	Spec       cliFunctionSpec `yaml:"spec"`
}

type cliFunctionSpec struct {
	Name                   string             `yaml:"name"`
	Image                  string             `yaml:"image"`
	Environment            map[string]string  `yaml:"environment,omitempty"`
	Labels                 *map[string]string `yaml:"labels,omitempty"`
	Annotations            *map[string]string `yaml:"annotations,omitempty"`
	Limits                 *map[string]string `yaml:"limits,omitempty"`
	Requests               *map[string]string `yaml:"requests,omitempty"`
	Constraints            *[]string          `yaml:"constraints,omitempty"`
	Secrets                []string           `yaml:"secrets,omitempty"`
	ReadOnlyRootFilesystem bool               `yaml:"readOnlyRootFilesystem,omitempty"`
}

type cliService struct {
	APIVersion string      `yaml:"apiVersion"`
	Kind       string      `yaml:"kind"`
	Metadata   cliMetadata `yaml:"metadata,omitempty"`
	Spec       struct {
		Template struct {
			Spec struct {
				Containers []cliContainer `yaml:"containers"`
				Volumes    []cliVolume    `yaml:"volumes,omitempty"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type cliContainer struct {
	Image        string     `yaml:"image"`
	Env          []cliEnv   `yaml:"env,omitempty"`
	VolumeMounts []cliMount `yaml:"volumeMounts,omitempty"`
}

type cliEnv struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type cliMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type cliVolume struct {
	Name   string    `yaml:"name"`
	Secret cliSecret `yaml:"secret"`
}

type cliSecret struct {
	SecretName string `yaml:"secretName"`
}
