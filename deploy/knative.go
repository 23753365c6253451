package deploy

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/caliopen/functions/internal/contract"
)

// The Knative Serving API the generated Services use.
const (
	KnativeAPIVersion = "serving.knative.dev/v1"
	// KnativeNamespace is the namespace of the functions' Services.
	KnativeNamespace = "caliopen-fn"
	// Autoscaling annotations of a Revision template.
	AnnotationMinScale = "autoscaling.knative.dev/min-scale"
	AnnotationMaxScale = "autoscaling.knative.dev/max-scale"
	// LabelVisibility set to VisibilityClusterLocal keeps a Service off
	// the public ingress.
	LabelVisibility        = "networking.knative.dev/visibility"
	VisibilityClusterLocal = "cluster-local"
	// SecretsPath is where OpenFaaS mounts secrets, and where the Services
	// mount them, so the stack's *_FILE paths hold on both.
	SecretsPath = "/var/openfaas/secrets/"
	// watchdogPort is the of-watchdog's port, which receives the traffic.
	watchdogPort = 8080
)

// KnativeService mirrors the fields of Knative Serving's v1 Service
// (knative.dev/serving/pkg/apis/serving/v1) that a Service manifest may
// set, over the Kubernetes types it embeds: the knative.dev/serving module
// itself needs knative.dev/pkg and knative.dev/networking versions that
// conflict with k8s.io/api v0.37. Decoding a manifest strictly into it
// rejects the fields Knative's own types do not have.
type KnativeService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              KnativeServiceSpec `json:"spec,omitempty"`
}

// KnativeServiceSpec is a Service's spec: its Configuration's template and
// its Route's traffic.
type KnativeServiceSpec struct {
	Template RevisionTemplateSpec `json:"template"`
	Traffic  []TrafficTarget      `json:"traffic,omitempty"`
}

// RevisionTemplateSpec is the template each Revision is made from.
type RevisionTemplateSpec struct {
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              RevisionSpec `json:"spec,omitempty"`
}

// RevisionSpec is a pod spec with Knative's own settings.
type RevisionSpec struct {
	corev1.PodSpec `json:",inline"`
	// ContainerConcurrency is the most requests one replica serves at once;
	// 0 means no limit.
	ContainerConcurrency *int64 `json:"containerConcurrency,omitempty"`
	// TimeoutSeconds bounds a request's whole duration.
	TimeoutSeconds              *int64 `json:"timeoutSeconds,omitempty"`
	ResponseStartTimeoutSeconds *int64 `json:"responseStartTimeoutSeconds,omitempty"`
	IdleTimeoutSeconds          *int64 `json:"idleTimeoutSeconds,omitempty"`
}

// TrafficTarget routes a share of a Service's traffic.
type TrafficTarget struct {
	Tag               string `json:"tag,omitempty"`
	RevisionName      string `json:"revisionName,omitempty"`
	ConfigurationName string `json:"configurationName,omitempty"`
	LatestRevision    *bool  `json:"latestRevision,omitempty"`
	Percent           *int64 `json:"percent,omitempty"`
	URL               string `json:"url,omitempty"`
}

// ScaleFor is a function's Knative autoscaling, from its contract binding:
// a function some requester waits for (a request/reply subject, or an HTTP
// function such as the API) keeps one replica, so that no cold start eats
// the requester's deadline; a publish/subscribe function, whose orders
// wait in JetStream and are retried, scales to zero.
func ScaleFor(c *contract.Contract, name string) (minScale int, why string) {
	subjects := c.SubjectsOf(name)
	if len(subjects) == 0 {
		return 1, "an HTTP function: its callers wait"
	}
	for _, s := range subjects {
		if s.HasRequests() {
			return 1, fmt.Sprintf("request/reply on %s: its requester waits %s", s.Name, s.Deadline)
		}
	}
	return 0, "publish/subscribe: orders wait in JetStream while it starts"
}

// KnativeServices renders the Knative Services of the stack's functions, in
// the stack's sorted order, with the registry's and the contract's
// knowledge faas-cli's own "generate" lacks: the autoscaling of ScaleFor,
// containerConcurrency equal to the watchdog's max_inflight, a request
// timeout of write_timeout (below the requester's deadline, which
// CheckStack checks), the resources of requests and limits, the topic
// annotations, and the secrets mounted where OpenFaaS mounts them.
// References ${NAME:-default} take their defaults.
func KnativeServices(s *Stack, c *contract.Contract) ([]KnativeService, error) {
	var out []KnativeService
	noEnv := func(string) string { return "" }
	for _, name := range sortedKeys(s.Functions) {
		f := s.Functions[name]
		image, err := Expand(f.Image, noEnv)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", name, err)
		}
		var env []corev1.EnvVar
		for _, k := range sortedKeys(f.Environment) {
			v, err := Expand(f.Environment[k], noEnv)
			if err != nil {
				return nil, fmt.Errorf("function %s: environment %s: %w", name, k, err)
			}
			env = append(env, corev1.EnvVar{Name: k, Value: v})
		}
		inflight, err := strconv.ParseInt(f.Environment["max_inflight"], 10, 64)
		if err != nil || inflight <= 0 {
			return nil, fmt.Errorf("function %s: max_inflight %q: want a positive whole number", name, f.Environment["max_inflight"])
		}
		write, err := time.ParseDuration(f.Environment["write_timeout"])
		if err != nil || write <= 0 {
			return nil, fmt.Errorf("function %s: write_timeout %q: want a positive duration", name, f.Environment["write_timeout"])
		}
		timeout := int64(math.Ceil(write.Seconds()))
		resources, err := resourcesOf(f)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", name, err)
		}
		minScale, _ := ScaleFor(c, name)
		template := map[string]string{AnnotationMinScale: strconv.Itoa(minScale)}
		if v, ok := f.Labels[labelScaleMax]; ok {
			template[AnnotationMaxScale] = v
		}
		var mounts []corev1.VolumeMount
		var volumes []corev1.Volume
		for _, secret := range f.Secrets {
			mounts = append(mounts, corev1.VolumeMount{Name: secret, MountPath: SecretsPath + secret, ReadOnly: true})
			volumes = append(volumes, corev1.Volume{Name: secret,
				VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}})
		}
		annotations := map[string]string{}
		for _, k := range []string{AnnotationTopic, AnnotationQueue} {
			if v, ok := f.Annotations[k]; ok {
				annotations[k] = v
			}
		}
		if len(annotations) == 0 {
			annotations = nil
		}
		labels := map[string]string{"app.kubernetes.io/part-of": "caliopen", "app.kubernetes.io/name": name}
		if _, nats := f.Annotations[AnnotationTopic]; nats {
			// Only the connector calls a NATS-triggered function: the
			// ingress does not publish it outside the cluster.
			labels[LabelVisibility] = VisibilityClusterLocal
		}
		out = append(out, KnativeService{
			TypeMeta: metav1.TypeMeta{APIVersion: KnativeAPIVersion, Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: KnativeNamespace, Annotations: annotations,
				Labels: labels},
			Spec: KnativeServiceSpec{Template: RevisionTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: template},
				Spec: RevisionSpec{
					ContainerConcurrency: &inflight,
					TimeoutSeconds:       &timeout,
					PodSpec: corev1.PodSpec{
						Containers: []corev1.Container{{
							Name:         "function",
							Image:        image,
							Ports:        []corev1.ContainerPort{{Name: "http1", ContainerPort: watchdogPort}},
							Env:          env,
							Resources:    resources,
							VolumeMounts: mounts,
						}},
						Volumes: volumes,
					},
				},
			}},
		})
	}
	return out, nil
}

func resourcesOf(f Function) (corev1.ResourceRequirements, error) {
	var r corev1.ResourceRequirements
	parse := func(in map[string]string) (corev1.ResourceList, error) {
		if len(in) == 0 {
			return nil, nil
		}
		out := corev1.ResourceList{}
		for k, v := range in {
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return nil, fmt.Errorf("resource %s %q: %w", k, v, err)
			}
			out[corev1.ResourceName(k)] = q
		}
		return out, nil
	}
	var err error
	if r.Requests, err = parse(f.Requests); err != nil {
		return r, err
	}
	r.Limits, err = parse(f.Limits)
	return r, err
}

// MarshalDocs writes objects as one YAML stream after a header comment.
func MarshalDocs[T any](header string, objects []T) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	for _, o := range objects {
		data, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return b.Bytes(), nil
}

// TopicMap derives the static topic map of the Knative Services: every
// function of the registry the contract gives subjects, in registry order,
// at its Service's cluster-local URL.
func TopicMap(registry []string, c *contract.Contract) []TopicRoute {
	var routes []TopicRoute
	for _, name := range registry {
		b := BindingOf(c, name)
		if len(b.Topics) == 0 {
			continue
		}
		routes = append(routes, TopicRoute{Name: name,
			URL: "http://" + name + "." + KnativeNamespace + ".svc.cluster.local", Topics: b.Topics})
	}
	return routes
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
