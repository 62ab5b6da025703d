package helm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "dptrain"
	kubeVersion = "1.32.0"
)

// helmBin finds helm on PATH or in $GOPATH/bin (where
// `go install helm.sh/helm/v3/cmd/helm@v3.22.0` puts it), or skips.
func helmBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "helm")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Skip("helm not found (CGO_ENABLED=0 go install helm.sh/helm/v3/cmd/helm@v3.22.0); skipping")
	return ""
}

func runHelm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, helmBin(t), args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// valueSets are the configurations the chart must render correctly.
var valueSets = map[string][]string{
	"defaults": nil,
	"external NATS, creds, TLS, operator objects, Deployment": {
		"nats.url=nats://nats.nats.svc:4222", "nats.credsSecret=dpt-creds",
		"nats.tlsSecret=dpt-tls", "nats.tlsClientAuth=true",
		"serviceMonitor.enabled=true", "prometheusRule.enabled=true",
		"coordinator.kind=Deployment", "image.tag=v1.2.3",
	},
	"external NATS with passwords, existing secret, 5 workers": {
		"nats.url=nats://nats:4222", "nats.auth.existingSecret=my-nats",
		"worker.replicas=5", "coordinator.args={--epochs=3,--optimizer=adam}",
	},
}

func setArgs(sets []string) []string {
	var args []string
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return args
}

func TestLint(t *testing.T) {
	for name, sets := range valueSets {
		out, err := runHelm(t, append([]string{"lint", "--strict", "--kube-version", kubeVersion, chartDir}, setArgs(sets)...)...)
		if err != nil {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
}

// object is one rendered manifest, decoded strictly into its API type.
type object struct {
	kind, name string
	v          any
}

// ServiceMonitor and PrometheusRule are Prometheus Operator CRDs, not in
// k8s.io/api: these mirror the fields the chart sets, strictly.
type serviceMonitor struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   metav1ObjectMeta   `json:"metadata"`
	Spec       serviceMonitorSpec `json:"spec"`
}

type metav1ObjectMeta struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

type serviceMonitorSpec struct {
	JobLabel string `json:"jobLabel"`
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	NamespaceSelector struct {
		MatchNames []string `json:"matchNames"`
	} `json:"namespaceSelector"`
	Endpoints []struct {
		Port     string `json:"port"`
		Path     string `json:"path"`
		Interval string `json:"interval"`
	} `json:"endpoints"`
}

type prometheusRule struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Metadata   metav1ObjectMeta `json:"metadata"`
	Spec       struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Record      string            `json:"record"`
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// render runs helm template and decodes every document strictly.
func render(t *testing.T, sets []string) []object {
	t.Helper()
	out, err := runHelm(t, append([]string{"template", "rel", chartDir, "--namespace", "ml", "--kube-version", kubeVersion}, setArgs(sets)...)...)
	if err != nil {
		t.Fatal(err)
	}
	var objs []object
	for _, doc := range docSep.Split(string(out), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(j, &head); err != nil {
			t.Fatal(err)
		}
		var v any
		switch head.APIVersion + " " + head.Kind {
		case "v1 Secret":
			v = &corev1.Secret{}
		case "v1 Service":
			v = &corev1.Service{}
		case "apps/v1 Deployment":
			v = &appsv1.Deployment{}
		case "batch/v1 Job":
			v = &batchv1.Job{}
		case "monitoring.coreos.com/v1 ServiceMonitor":
			v = &serviceMonitor{}
		case "monitoring.coreos.com/v1 PrometheusRule":
			v = &prometheusRule{}
		default:
			t.Fatalf("unexpected object %s %s", head.APIVersion, head.Kind)
		}
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Errorf("%s %s does not decode strictly: %v", head.Kind, head.Metadata.Name, err)
			continue
		}
		objs = append(objs, object{kind: head.Kind, name: head.Metadata.Name, v: v})
	}
	if len(objs) == 0 {
		t.Fatal("helm template rendered nothing")
	}
	return objs
}

func find[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.v.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func podSpecs(objs []object) map[string]*corev1.PodTemplateSpec {
	pods := map[string]*corev1.PodTemplateSpec{}
	for _, d := range find[*appsv1.Deployment](objs) {
		pods[d.Name] = &d.Spec.Template
	}
	for _, j := range find[*batchv1.Job](objs) {
		pods[j.Name] = &j.Spec.Template
	}
	return pods
}

func TestRenderedObjectsDecodeStrictly(t *testing.T) {
	for name, sets := range valueSets {
		t.Run(name, func(t *testing.T) {
			objs := render(t, sets)
			pods := podSpecs(objs)
			if len(pods) != 2 {
				t.Fatalf("want a coordinator and a worker pod template, got %d", len(pods))
			}
			secrets := map[string]*corev1.Secret{}
			for _, s := range find[*corev1.Secret](objs) {
				secrets[s.Name] = s
			}
			for pname, p := range pods {
				checkPod(t, pname, p, sets, secrets)
			}
			checkServicesSelectPods(t, find[*corev1.Service](objs), pods)
			for _, sm := range find[*serviceMonitor](objs) {
				if sm.Spec.JobLabel != "dptrain.io/scrape-job" || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" {
					t.Errorf("ServiceMonitor %s: %+v", sm.Metadata.Name, sm.Spec)
				}
			}
		})
	}
}

// checkPod asserts the security posture and the wiring of a pod template.
func checkPod(t *testing.T, name string, p *corev1.PodTemplateSpec, sets []string, secrets map[string]*corev1.Secret) {
	t.Helper()
	sc := p.Spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Errorf("%s: pod must run as non-root user 65532: %+v", name, sc)
	}
	if len(p.Spec.Containers) != 1 {
		t.Fatalf("%s: %d containers", name, len(p.Spec.Containers))
	}
	c := p.Spec.Containers[0]
	csc := c.SecurityContext
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.Capabilities == nil || len(csc.Capabilities.Drop) != 1 || csc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("%s: container security context too wide: %+v", name, csc)
	}
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = true
	}
	if !mounts["/tmp"] {
		t.Errorf("%s: read-only root file system without a /tmp volume", name)
	}
	vols := map[string]bool{}
	for _, v := range p.Spec.Volumes {
		vols[v.Name] = true
	}
	for _, m := range c.VolumeMounts {
		if !vols[m.Name] {
			t.Errorf("%s: mount %s of undefined volume %s", name, m.MountPath, m.Name)
		}
	}
	var metricsPort bool
	for _, port := range c.Ports {
		metricsPort = metricsPort || port.Name == "metrics"
	}
	if !metricsPort || c.LivenessProbe == nil || c.ReadinessProbe == nil ||
		c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("%s: metrics port and /healthz, /readyz probes expected", name)
	}
	if !strings.Contains(strings.Join(c.Args, " "), "--metrics-addr=:9400") {
		t.Errorf("%s: args lack --metrics-addr: %v", name, c.Args)
	}
	if tag := setValue(sets, "image.tag"); tag != "" && !strings.HasSuffix(c.Image, ":"+tag) {
		t.Errorf("%s: image %s, want tag %s", name, c.Image, tag)
	}
	// Every secret the pod reads exists: rendered here, or named in values.
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if s, ok := secrets[ref.Name]; ok {
			if _, ok := s.Data[ref.Key]; !ok {
				t.Errorf("%s: env %s reads key %s that secret %s lacks", name, e.Name, ref.Key, ref.Name)
			}
		} else if ref.Name != setValue(sets, "nats.auth.existingSecret") {
			t.Errorf("%s: env %s reads secret %s, which is neither rendered nor given", name, e.Name, ref.Name)
		}
	}
}

// checkServicesSelectPods asserts that each Service selects exactly one pod
// template and targets a port that template names.
func checkServicesSelectPods(t *testing.T, svcs []*corev1.Service, pods map[string]*corev1.PodTemplateSpec) {
	t.Helper()
	if len(svcs) != 2 {
		t.Errorf("want 2 services, got %d", len(svcs))
	}
	for _, s := range svcs {
		var matched []*corev1.PodTemplateSpec
		for _, p := range pods {
			ok := len(s.Spec.Selector) > 0
			for k, v := range s.Spec.Selector {
				ok = ok && p.Labels[k] == v
			}
			if ok {
				matched = append(matched, p)
			}
		}
		if len(matched) != 1 {
			t.Errorf("service %s selects %d pod templates, want 1", s.Name, len(matched))
			continue
		}
		names := map[string]bool{}
		for _, port := range matched[0].Spec.Containers[0].Ports {
			names[port.Name] = true
		}
		for _, port := range s.Spec.Ports {
			if !names[port.TargetPort.String()] {
				t.Errorf("service %s targets port %q that its pods do not name", s.Name, port.TargetPort.String())
			}
		}
	}
}

func setValue(sets []string, key string) string {
	for _, s := range sets {
		if k, v, ok := strings.Cut(s, "="); ok && k == key {
			return v
		}
	}
	return ""
}

func TestWorkerReplicasAndNATSURL(t *testing.T) {
	objs := render(t, valueSets["external NATS with passwords, existing secret, 5 workers"])
	for _, d := range find[*appsv1.Deployment](objs) {
		if !strings.HasSuffix(d.Name, "-worker") {
			continue
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 5 {
			t.Errorf("worker replicas = %v, want 5", d.Spec.Replicas)
		}
		if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--nats=nats://nats:4222") {
			t.Errorf("worker args %q lack the external NATS URL", args)
		}
	}
	for _, j := range find[*batchv1.Job](objs) {
		args := strings.Join(j.Spec.Template.Spec.Containers[0].Args, " ")
		for _, want := range []string{"--workers=5", "--nats=nats://nats:4222", "--nats-user=coordinator", "--epochs=3", "--optimizer=adam"} {
			if !strings.Contains(args, want) {
				t.Errorf("coordinator args %q lack %s", args, want)
			}
		}
		if strings.Contains(args, "--nats-listen") {
			t.Error("coordinator starts an embedded server although an external URL is set")
		}
	}
}

func TestEmbeddedNATSWiring(t *testing.T) {
	objs := render(t, nil)
	var workerURL string
	for _, d := range find[*appsv1.Deployment](objs) {
		for _, a := range d.Spec.Template.Spec.Containers[0].Args {
			if u, ok := strings.CutPrefix(a, "--nats="); ok {
				workerURL = u
			}
		}
	}
	if workerURL != "nats://rel-dptrain-coordinator:4222" {
		t.Errorf("workers connect to %q, want the coordinator service", workerURL)
	}
	for _, s := range find[*corev1.Service](objs) {
		if s.Name == "rel-dptrain-coordinator" && !s.Spec.PublishNotReadyAddresses {
			t.Error("the coordinator service must publish not-ready addresses: workers reach NATS before it is ready")
		}
	}
}

func TestInvalidCoordinatorKindFails(t *testing.T) {
	if _, err := runHelm(t, "template", "rel", chartDir, "--kube-version", kubeVersion, "--set", "coordinator.kind=CronJob"); err == nil {
		t.Error("coordinator.kind=CronJob rendered")
	}
}

// TestPrometheusRuleMatchesAlerts: the chart's copy of the alert rules is the
// one promtool tests.
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	a, err := os.ReadFile(filepath.Join("..", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("deploy/helm/dptrain/files/alerts.yml differs from deploy/prometheus/alerts.yml: copy it over")
	}
	objs := render(t, []string{"prometheusRule.enabled=true"})
	rules := find[*prometheusRule](objs)
	if len(rules) != 1 {
		t.Fatalf("want 1 PrometheusRule, got %d", len(rules))
	}
	var alerts int
	for _, g := range rules[0].Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts++
				if !strings.Contains(r.Annotations["summary"], "{{") {
					t.Errorf("alert %s: summary lost its template: %q", r.Alert, r.Annotations["summary"])
				}
			}
		}
	}
	if alerts < 5 {
		t.Errorf("PrometheusRule holds %d alerts, want the ≥ 5 of alerts.yml", alerts)
	}
}
