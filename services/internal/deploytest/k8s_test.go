package deploytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
)

// These tests check what a schema cannot: that deploy/k8s runs the binaries
// the Dockerfile builds, with the probes, ports, environment and budgets
// the services expect. kubeconform (make lint-k8s) checks the schemas.

// obj is one decoded Kubernetes object.
type obj = map[string]any

func k8sDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(corpus.RepoRoot(t), "deploy", "k8s")
}

// decodeAll reads every YAML document of a file.
func decodeAll(t *testing.T, path string) []obj {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []obj
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o obj
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(path), err)
		}
		if o != nil {
			docs = append(docs, o)
		}
	}
}

// manifests are the objects `kubectl apply -k deploy/k8s` creates, plus
// the Secret of secret.yaml, by kind.
func manifests(t *testing.T) map[string][]obj {
	t.Helper()
	byKind := map[string][]obj{}
	files := append(kustomizationResources(t), "secret.yaml")
	for _, f := range files {
		for _, o := range decodeAll(t, filepath.Join(k8sDir(t), f)) {
			kind, _ := o["kind"].(string)
			byKind[kind] = append(byKind[kind], o)
		}
	}
	return byKind
}

func kustomizationResources(t *testing.T) []string {
	t.Helper()
	k := decodeAll(t, filepath.Join(k8sDir(t), "kustomization.yaml"))
	if len(k) != 1 {
		t.Fatalf("kustomization.yaml has %d documents, want 1", len(k))
	}
	var files []string
	for _, r := range list(k[0], "resources") {
		files = append(files, r.(string))
	}
	return files
}

// get walks o by keys; nil when a key is missing.
func get(o any, path ...string) any {
	for _, k := range path {
		m, ok := o.(obj)
		if !ok {
			return nil
		}
		o = m[k]
	}
	return o
}

func str(o any, path ...string) string { s, _ := get(o, path...).(string); return s }
func list(o any, path ...string) []any { l, _ := get(o, path...).([]any); return l }

func TestKustomizationListsEveryManifest(t *testing.T) {
	entries, err := os.ReadDir(k8sDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		switch n := e.Name(); {
		case !strings.HasSuffix(n, ".yaml"):
		case n == "kustomization.yaml", n == "nats-values.yaml":
		case n == "secret.yaml": // placeholders: applying it would overwrite the real Secret
		default:
			want = append(want, n)
		}
	}
	got := slices.Sorted(slices.Values(kustomizationResources(t)))
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources = %v, want every manifest but secret.yaml: %v", got, want)
	}
}

func TestSecretHoldsPlaceholdersOnly(t *testing.T) {
	secrets := manifests(t)["Secret"]
	if len(secrets) != 1 {
		t.Fatalf("%d Secrets, want 1 (secret.yaml)", len(secrets))
	}
	if get(secrets[0], "data") != nil {
		t.Error("secret.yaml has data: keep placeholders in stringData only")
	}
	for k, v := range get(secrets[0], "stringData").(obj) {
		if !strings.HasPrefix(v.(string), "REPLACE") {
			t.Errorf("secret.yaml stringData.%s is not a REPLACE… placeholder: never commit a real secret", k)
		}
	}
}

// binaries are the programs the Dockerfile builds into /usr/local/bin.
func binaries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus.RepoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("COPY --from=build /out/ /usr/local/bin/")) {
		t.Fatal("the Dockerfile no longer copies the binaries to /usr/local/bin/")
	}
	var bins []string
	for _, m := range regexp.MustCompile(`\./services/([a-z]+)`).FindAllStringSubmatch(string(b), -1) {
		if _, err := os.Stat(filepath.Join(corpus.RepoRoot(t), "services", m[1], "main.go")); err != nil {
			t.Errorf("the Dockerfile builds ./services/%s, which has no main.go", m[1])
		}
		bins = append(bins, m[1])
	}
	return bins
}

func TestDeployments(t *testing.T) {
	all := manifests(t)
	bins := binaries(t)
	deployments := all["Deployment"]
	var names []string
	for _, d := range deployments {
		names = append(names, str(d, "metadata", "name"))
	}
	if want := []string{"harvester-fetcher", "harvester-normalizer", "harvester-receiver"}; !slices.Equal(slices.Sorted(slices.Values(names)), want) {
		t.Fatalf("Deployments %v, want %v", names, want)
	}
	for _, d := range deployments {
		t.Run(str(d, "metadata", "name"), func(t *testing.T) {
			pod := get(d, "spec", "template", "spec")
			if get(pod, "securityContext", "runAsNonRoot") != true {
				t.Error("pod securityContext.runAsNonRoot is not true")
			}
			containers := list(pod, "containers")
			if len(containers) != 1 {
				t.Fatalf("%d containers, want 1", len(containers))
			}
			c := containers[0]
			bin := strings.TrimPrefix(fmt.Sprint(list(c, "command")...), "/usr/local/bin/")
			if !slices.Contains(bins, bin) {
				t.Errorf("command %v is not one of the Dockerfile's /usr/local/bin/%v", list(c, "command"), bins)
			}
			if get(c, "securityContext", "readOnlyRootFilesystem") != true || get(c, "securityContext", "allowPrivilegeEscalation") != false {
				t.Error("container securityContext: want readOnlyRootFilesystem true, allowPrivilegeEscalation false")
			}
			if get(c, "resources", "requests", "memory") == nil || get(c, "resources", "limits", "memory") == nil {
				t.Error("resources: want a memory request and limit")
			}
			ports := map[string]int{}
			for _, p := range list(c, "ports") {
				ports[str(p, "name")] = get(p, "containerPort").(int)
			}
			for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
				if got := str(c, probe, "httpGet", "path"); got != path {
					t.Errorf("%s path %q, want %q", probe, got, path)
				}
				if _, ok := ports[str(c, probe, "httpGet", "port")]; !ok {
					t.Errorf("%s port %v names none of the container's ports %v", probe, get(c, probe, "httpGet", "port"), ports)
				}
			}
			// The port the probes use serves /metrics too: on the receiver
			// its HTTP port, on the others HARVESTER_METRICS_ADDR.
			probePort := ports[str(c, "readinessProbe", "httpGet", "port")]
			if got := str(d, "spec", "template", "metadata", "annotations", "prometheus.io/port"); got != strconv.Itoa(probePort) {
				t.Errorf("prometheus.io/port %q, want the probes' port %d", got, probePort)
			}
			addr := ""
			for _, e := range list(c, "env") {
				if str(e, "name") == "HARVESTER_METRICS_ADDR" {
					addr = str(e, "value")
				}
			}
			if bin == "receiver" {
				if !slices.Contains(list(c, "args"), any(fmt.Sprintf(":%d", probePort))) {
					t.Errorf("args %v: want --http-addr :%d, the port of the probes", list(c, "args"), probePort)
				}
			} else if addr != fmt.Sprintf(":%d", probePort) {
				t.Errorf("HARVESTER_METRICS_ADDR %q, want :%d, the port of the probes", addr, probePort)
			}
			labels := get(d, "spec", "template", "metadata", "labels").(obj)
			if !selects(get(d, "spec", "selector", "matchLabels"), labels) {
				t.Error("the Deployment's selector does not select its own pods")
			}
			if replicas, _ := get(d, "spec", "replicas").(int); replicas > 1 &&
				!slices.ContainsFunc(all["PodDisruptionBudget"], func(p obj) bool { return selects(get(p, "spec", "selector", "matchLabels"), labels) }) {
				t.Errorf("%d replicas and no PodDisruptionBudget selecting its pods", replicas)
			}
		})
	}
}

// selects reports whether matchLabels (non-empty) selects a pod with labels.
func selects(matchLabels any, labels obj) bool {
	m, ok := matchLabels.(obj)
	if !ok || len(m) == 0 {
		return false
	}
	for k, v := range m {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestIngressReachesTheReceiverWebhook(t *testing.T) {
	all := manifests(t)
	var receiver obj
	for _, d := range all["Deployment"] {
		if str(d, "metadata", "name") == "harvester-receiver" {
			receiver = d
		}
	}
	if receiver == nil {
		t.Fatal("no Deployment harvester-receiver")
	}
	podLabels := get(receiver, "spec", "template", "metadata", "labels").(obj)
	c := list(receiver, "spec", "template", "spec", "containers")[0]
	services := map[string]obj{}
	for _, s := range all["Service"] {
		services[str(s, "metadata", "name")] = s
	}
	ingresses := all["Ingress"]
	if len(ingresses) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(ingresses))
	}
	var paths []string
	for _, rule := range list(ingresses[0], "spec", "rules") {
		for _, p := range list(rule, "http", "paths") {
			paths = append(paths, str(p, "path"))
			svc, ok := services[str(p, "backend", "service", "name")]
			if !ok {
				t.Fatalf("the Ingress routes %s to Service %q, which deploy/k8s does not define", str(p, "path"), str(p, "backend", "service", "name"))
			}
			if !selects(get(svc, "spec", "selector"), podLabels) {
				t.Errorf("Service %s does not select the receiver's pods", str(svc, "metadata", "name"))
			}
			port := str(p, "backend", "service", "port", "name")
			var target string
			for _, sp := range list(svc, "spec", "ports") {
				if str(sp, "name") == port {
					target = str(sp, "targetPort")
				}
			}
			if !slices.ContainsFunc(list(c, "ports"), func(cp any) bool { return str(cp, "name") == target && target != "" }) {
				t.Errorf("the Ingress's port %q leads to targetPort %q, which is no port of the receiver", port, target)
			}
		}
	}
	if !slices.Equal(paths, []string{dbtcloud.WebhookPath}) {
		t.Errorf("the Ingress exposes %v, want only %s (not /metrics, /healthz, /readyz)", paths, dbtcloud.WebhookPath)
	}
}

// issue13Env are the variables issue 13 names for the metrics and traces
// that the manifests set; GOMEMLIMIT is the Go runtime's.
var issue13Env = []string{"HARVESTER_METRICS_ADDR", "OTEL_EXPORTER_OTLP_ENDPOINT", "GOMEMLIMIT"}

func TestEnvNamesAreReadByTheServices(t *testing.T) {
	all := manifests(t)
	var names []string
	for _, cm := range all["ConfigMap"] {
		for k := range get(cm, "data").(obj) {
			names = append(names, k)
		}
	}
	for _, d := range all["Deployment"] {
		for _, c := range list(d, "spec", "template", "spec", "containers") {
			for _, e := range list(c, "env") {
				names = append(names, str(e, "name"))
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d variables: %v", len(names), names)
	}
	code := goSource(t)
	for _, name := range names {
		read := strings.TrimSuffix(name, "_FILE") // NAME_FILE is read for NAME (config.secretVar)
		if slices.Contains(issue13Env, name) {
			continue
		}
		if !strings.Contains(code, `"`+read+`"`) {
			t.Errorf("%s is set in deploy/k8s but no service reads %q: misspelt?", name, read)
		}
	}
}

// goSource is every non-test Go file of the services module, concatenated.
func goSource(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	root := filepath.Join(corpus.RepoRoot(t), "services")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		sb.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func TestNATSHelmValues(t *testing.T) {
	docs := decodeAll(t, filepath.Join(k8sDir(t), "nats-values.yaml"))
	if len(docs) != 1 {
		t.Fatalf("nats-values.yaml has %d documents, want 1", len(docs))
	}
	v := docs[0]
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"config", "cluster", "enabled"}, true},
		{[]string{"config", "cluster", "replicas"}, 3},
		{[]string{"config", "jetstream", "enabled"}, true},
		{[]string{"config", "jetstream", "fileStore", "enabled"}, true},
		{[]string{"config", "jetstream", "fileStore", "pvc", "enabled"}, true},
		{[]string{"config", "jetstream", "memoryStore", "enabled"}, false},
		{[]string{"config", "jetstream", "merge", "sync_interval"}, "always"},
	}
	for _, c := range checks {
		if got := get(v, c.path...); got != c.want {
			t.Errorf("%s = %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}

	// The chart renders config.jetstream into the server's jetstream block
	// (store_dir, and max_file_store as the bare size maxSize: its template's
	// << >> marks an unquoted value) and merges config.jetstream.merge into
	// it; that block must parse and turn fsync-before-ack on.
	js := get(v, "config", "jetstream").(obj)
	var conf strings.Builder
	fmt.Fprintf(&conf, "server_name: nats-0\njetstream {\n  store_dir: %q\n  max_file_store: %s\n",
		str(js, "fileStore", "dir"), str(js, "fileStore", "maxSize"))
	for k, val := range get(js, "merge").(obj) {
		fmt.Fprintf(&conf, "  %s: %v\n", k, val)
	}
	conf.WriteString("}\n")
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("the jetstream block rendered from nats-values.yaml does not parse: %v\n%s", err, conf.String())
	}
	if !opts.SyncAlways {
		t.Errorf("SyncAlways is false from\n%s", conf.String())
	}
	pvc, err := quantityBytes(str(js, "fileStore", "pvc", "size"))
	if err != nil {
		t.Fatal(err)
	}
	if opts.JetStreamMaxStore <= 0 || opts.JetStreamMaxStore >= pvc {
		t.Errorf("max_file_store = %d bytes, want below the volume's %d (JetStream counts logical bytes; the files take more)", opts.JetStreamMaxStore, pvc)
	}
}

// quantityBytes reads a Kubernetes quantity with a binary suffix (20Gi).
func quantityBytes(q string) (int64, error) {
	var n int64
	var unit string
	if _, err := fmt.Sscanf(q, "%d%s", &n, &unit); err != nil {
		return 0, fmt.Errorf("quantity %q: %w", q, err)
	}
	shift, ok := map[string]uint{"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40}[unit]
	if !ok {
		return 0, fmt.Errorf("quantity %q: want a Ki, Mi, Gi or Ti suffix", q)
	}
	return n << shift, nil
}
