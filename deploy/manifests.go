package deploy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/caliopen/functions/internal/contract"
)

// TopicMapFile is the base name of a static topic map: a YAML list of
// TopicRoute that the connector reads in static mode (Knative).
const TopicMapFile = "topic-map.yaml"

// Doc is one YAML document of a file.
type Doc struct {
	// File is the file's path, slash-separated, relative to the walked root.
	File string
	// Index counts documents within the file, from 0.
	Index int
	node  yaml.Node
}

func (d Doc) String() string { return fmt.Sprintf("%s#%d", d.File, d.Index) }

// Decode decodes the document into v.
func (d Doc) Decode(v any) error { return d.node.Decode(v) }

// ReadDocs reads every YAML document of every .yaml or .yml file under
// root, files in lexical order. Empty documents are skipped.
func ReadDocs(root string) ([]Doc, error) {
	var docs []Doc
	err := filepath.WalkDir(root, func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if ext := filepath.Ext(name); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		rel, err := filepath.Rel(root, name)
		if err != nil {
			return err
		}
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		dec := yaml.NewDecoder(f)
		for i := 0; ; i++ {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s document %d: %w", rel, i, err)
			}
			if len(n.Content) == 0 || n.Content[0].Tag == "!!null" {
				continue
			}
			docs = append(docs, Doc{File: filepath.ToSlash(rel), Index: i, node: n})
		}
	})
	return docs, err
}

// Object is the identity every Kubernetes manifest carries.
type Object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

// CheckObject checks that a document is a mapping with apiVersion, kind and
// metadata.name (a Kustomization needs no name).
func CheckObject(d Doc) []error {
	var o Object
	if err := d.Decode(&o); err != nil {
		return []error{fmt.Errorf("%s: not a manifest: %w", d, err)}
	}
	var errs []error
	if o.APIVersion == "" {
		errs = append(errs, fmt.Errorf("%s: apiVersion is missing", d))
	}
	if o.Kind == "" {
		errs = append(errs, fmt.Errorf("%s: kind is missing", d))
	}
	if o.Metadata.Name == "" && o.Kind != "Kustomization" {
		errs = append(errs, fmt.Errorf("%s: metadata.name is missing", d))
	}
	return errs
}

// kustomization is the part of a kustomization.yaml that names files.
type kustomization struct {
	Resources []string `yaml:"resources"`
	Patches   []struct {
		Path string `yaml:"path"`
	} `yaml:"patches"`
	ConfigMapGenerator []struct {
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
}

// CheckKustomization checks that every file or folder a kustomization
// document names exists; dir is the folder holding it.
func CheckKustomization(d Doc, dir string) []error {
	var k kustomization
	if err := d.Decode(&k); err != nil {
		return []error{fmt.Errorf("%s: %w", d, err)}
	}
	paths := slices.Clone(k.Resources)
	for _, p := range k.Patches {
		if p.Path != "" {
			paths = append(paths, p.Path)
		}
	}
	for _, g := range k.ConfigMapGenerator {
		for _, f := range g.Files {
			if _, file, ok := strings.Cut(f, "="); ok {
				f = file
			}
			paths = append(paths, f)
		}
	}
	var errs []error
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
			errs = append(errs, fmt.Errorf("%s: names %s, which does not exist", d, p))
		}
	}
	return errs
}

type envSource struct {
	Name     string `yaml:"name"`
	Optional bool   `yaml:"optional"`
}

type workload struct {
	Object `yaml:",inline"`
	Spec   struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Name string `yaml:"name"`
					Env  []struct {
						Name      string `yaml:"name"`
						Value     string `yaml:"value"`
						ValueFrom *struct {
							SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
							ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
						} `yaml:"valueFrom"`
					} `yaml:"env"`
					EnvFrom []struct {
						ConfigMapRef *envSource `yaml:"configMapRef"`
						SecretRef    *envSource `yaml:"secretRef"`
					} `yaml:"envFrom"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// keyRef names a key of a ConfigMap or Secret.
type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type keyed struct {
	Object     `yaml:",inline"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

// EnvOf lists, sorted, the environment variable names the containers of the
// named Deployment receive across all documents (a base and its patches):
// their env entries and the keys of the ConfigMaps and Secrets their envFrom
// entries name. A ConfigMap or Secret that no document defines is an error
// unless the reference is optional.
func EnvOf(docs []Doc, deployment string) ([]string, []error) {
	env, errs := EnvValues(docs, deployment)
	return slices.Sorted(maps.Keys(env)), errs
}

// EnvValues is EnvOf with each variable's value: a ConfigMap's value as
// written, "secret NAME/KEY" for a value taken from a Secret (envFrom or
// secretKeyRef), "configmap NAME/KEY" for a configMapKeyRef.
func EnvValues(docs []Doc, deployment string) (map[string]string, []error) {
	keys := map[string]map[string]string{} // "ConfigMap/name" -> key -> value
	var deployments []workload
	var errs []error
	for _, d := range docs {
		var o Object
		if d.Decode(&o) != nil {
			continue
		}
		switch o.Kind {
		case "ConfigMap", "Secret":
			var k keyed
			if err := d.Decode(&k); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d, err))
				continue
			}
			id := o.Kind + "/" + o.Metadata.Name
			if keys[id] == nil {
				keys[id] = map[string]string{}
			}
			for name, v := range k.Data {
				keys[id][name] = v
			}
			for name, v := range k.StringData {
				keys[id][name] = v
			}
			if o.Kind == "Secret" {
				for name := range keys[id] {
					keys[id][name] = "secret " + o.Metadata.Name + "/" + name
				}
			}
		case "Deployment":
			if o.Metadata.Name != deployment {
				continue
			}
			var w workload
			if err := d.Decode(&w); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d, err))
				continue
			}
			deployments = append(deployments, w)
		}
	}
	if len(deployments) == 0 {
		return nil, append(errs, fmt.Errorf("no Deployment %s", deployment))
	}
	values := map[string]string{}
	from := func(kind string, src *envSource) {
		if src == nil {
			return
		}
		ks, ok := keys[kind+"/"+src.Name]
		if !ok && !src.Optional {
			errs = append(errs, fmt.Errorf("deployment %s takes env from %s %s, which no document defines", deployment, kind, src.Name))
		}
		for k, v := range ks {
			values[k] = v
		}
	}
	for _, w := range deployments {
		for _, c := range w.Spec.Template.Spec.Containers {
			for _, ef := range c.EnvFrom {
				from("ConfigMap", ef.ConfigMapRef)
				from("Secret", ef.SecretRef)
			}
			for _, e := range c.Env {
				v := e.Value
				if vf := e.ValueFrom; vf != nil && vf.SecretKeyRef != nil {
					v = "secret " + vf.SecretKeyRef.Name + "/" + vf.SecretKeyRef.Key
				} else if vf != nil && vf.ConfigMapKeyRef != nil {
					v = "configmap " + vf.ConfigMapKeyRef.Name + "/" + vf.ConfigMapKeyRef.Key
				}
				values[e.Name] = v
			}
		}
	}
	return values, errs
}

// CheckEnvNames reports every name that accepted does not list.
func CheckEnvNames(what string, names, accepted []string) []error {
	var errs []error
	for _, n := range names {
		if !slices.Contains(accepted, n) {
			errs = append(errs, fmt.Errorf("%s: environment variable %s is not one the connector accepts", what, n))
		}
	}
	return errs
}

// TopicRoute is one entry of a static topic map: a function, the URL that
// invokes it and the subjects it handles.
type TopicRoute struct {
	Name   string   `yaml:"name"`
	URL    string   `yaml:"url"`
	Topics []string `yaml:"topics"`
}

// CheckTopicMap checks a static topic map against the contract: every entry
// names a function of the contract once, with an absolute http(s) URL and
// exactly the contract's subjects of that function, in contract order.
func CheckTopicMap(routes []TopicRoute, c *contract.Contract) []error {
	var errs []error
	seen := map[string]bool{}
	for i, r := range routes {
		what := fmt.Sprintf("topic map entry %d (%s)", i, r.Name)
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("%s: function listed twice", what))
		}
		seen[r.Name] = true
		want := BindingOf(c, r.Name).Topics
		if len(want) == 0 {
			errs = append(errs, fmt.Errorf("%s: the contract gives this function no subject", what))
		} else if !slices.Equal(r.Topics, want) {
			errs = append(errs, fmt.Errorf("%s: topics are %v, want %v", what, r.Topics, want))
		}
		if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: url %q is not an absolute http(s) URL", what, r.URL))
		}
	}
	return errs
}
