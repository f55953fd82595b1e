package deploytest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
)

// metrics are issue 13's metric names, each with its labels and whether it
// is a histogram (queried through _bucket, _sum and _count).
var metrics = map[string]struct {
	labels    []string
	histogram bool
}{
	"harvester_webhooks_total":             {labels: []string{"outcome"}},
	"harvester_webhook_publish_seconds":    {histogram: true},
	"harvester_harvests_total":             {labels: []string{"outcome"}},
	"harvester_harvest_duration_seconds":   {histogram: true},
	"harvester_assets_published_total":     {labels: []string{"resource_type"}},
	"harvester_dbt_api_requests_total":     {labels: []string{"endpoint", "code"}},
	"harvester_dbt_api_wait_seconds_total": {},
	"harvester_artifact_bytes_total":       {},
	"harvester_consumer_pending":           {labels: []string{"consumer"}},
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name, Type, Query string
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Title      string          `json:"title"`
	Type       string          `json:"type"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus.RepoRoot(t), "deploy", "grafana", "harvester.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("deploy/grafana/harvester.json: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("the dashboard has no title or uid")
	}
	return d
}

var (
	// identRE finds PromQL identifiers: metric names, functions, keywords, labels.
	identRE = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	// byRE finds the labels of an aggregation's by (...) or without (...).
	byRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	// stringRE and selectorRE drop what identRE must not see: quoted
	// strings, label matchers and range durations.
	stringRE   = regexp.MustCompile(`"[^"]*"`)
	selectorRE = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
)

// promqlWords are the functions, aggregations and keywords the dashboard may use.
var promqlWords = []string{"sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "by", "without", "le", "topk"}

// metricsOf returns the metric names an expression reads and the labels it
// aggregates by.
func metricsOf(expr string) (names, labels []string) {
	for _, m := range byRE.FindAllStringSubmatch(expr, -1) {
		for l := range strings.SplitSeq(m[1], ",") {
			labels = append(labels, strings.TrimSpace(l))
		}
	}
	rest := byRE.ReplaceAllString(stringRE.ReplaceAllString(selectorRE.ReplaceAllString(expr, " "), " "), " ")
	for _, id := range identRE.FindAllString(rest, -1) {
		if !slices.Contains(promqlWords, id) {
			names = append(names, id)
		}
	}
	return names, labels
}

// base is the metric a series name belongs to ("" for none).
func base(series string) string {
	if _, ok := metrics[series]; ok {
		return series
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if m, ok := metrics[strings.TrimSuffix(series, suffix)]; ok && m.histogram && strings.HasSuffix(series, suffix) {
			return strings.TrimSuffix(series, suffix)
		}
	}
	return ""
}

func TestMetricsOf(t *testing.T) {
	tests := []struct {
		expr          string
		names, labels []string
	}{
		{`sum by (outcome) (rate(harvester_webhooks_total[$__rate_interval]))`, []string{"harvester_webhooks_total"}, []string{"outcome"}},
		{`histogram_quantile(0.99, sum by (le) (rate(harvester_harvest_duration_seconds_bucket{job="x"}[5m])))`, []string{"harvester_harvest_duration_seconds_bucket"}, []string{"le"}},
		{`rate(foo_total[1m]) / on(instance) bar`, []string{"foo_total", "on", "instance", "bar"}, nil},
	}
	for _, tt := range tests {
		names, labels := metricsOf(tt.expr)
		if !slices.Equal(names, tt.names) || !slices.Equal(labels, tt.labels) {
			t.Errorf("metricsOf(%s) = %v, %v, want %v, %v", tt.expr, names, labels, tt.names, tt.labels)
		}
	}
	for series, want := range map[string]string{
		"harvester_webhook_publish_seconds_bucket": "harvester_webhook_publish_seconds",
		"harvester_webhooks_total":                 "harvester_webhooks_total",
		"harvester_webhooks_total_bucket":          "", // not a histogram
		"harvester_webhooks":                       "",
	} {
		if got := base(series); got != want {
			t.Errorf("base(%s) = %q, want %q", series, got, want)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	d := loadDashboard(t)
	if !slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type, Query string }) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Fatal("no Prometheus datasource variable named datasource")
	}
	used := map[string]bool{}
	var panels []panel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	exprs := 0
	for _, p := range panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if !strings.Contains(string(p.Datasource), "${datasource}") {
			t.Errorf("panel %q does not use the datasource variable: %s", p.Title, p.Datasource)
		}
		for _, q := range p.Targets {
			exprs++
			names, labels := metricsOf(q.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: %s reads no metric", p.Title, q.Expr)
			}
			for _, n := range names {
				b := base(n)
				if b == "" {
					t.Errorf("panel %q: %s reads %s, which is not one of issue 13's metrics", p.Title, q.Expr, n)
					continue
				}
				used[b] = true
				for _, l := range labels {
					if l != "le" && !slices.Contains(metrics[b].labels, l) {
						t.Errorf("panel %q: %s aggregates by %q, which %s does not have (labels %v)", p.Title, q.Expr, l, b, metrics[b].labels)
					}
					if l == "le" && !metrics[b].histogram {
						t.Errorf("panel %q: %s: le on %s, which is not a histogram", p.Title, q.Expr, b)
					}
				}
			}
		}
	}
	for m := range metrics {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
	if exprs < len(metrics) {
		t.Errorf("%d queries for %d metrics", exprs, len(metrics))
	}
}
