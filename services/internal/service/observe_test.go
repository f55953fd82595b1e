package service_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/receiver"
	"github.com/dbt-harvester/harvester/services/internal/tracing"
)

// otlpReceiver is an in-process OTLP/HTTP collector: it decodes every
// protobuf export posted to /v1/traces and keeps the spans.
type otlpReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func startOTLP(t *testing.T) *otlpReceiver {
	t.Helper()
	o := &otlpReceiver{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP export %s %s (%s), want POST /v1/traces protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil {
			t.Errorf("OTLP export: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		o.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					o.services = append(o.services, kv.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				o.spans = append(o.spans, ss.GetSpans()...)
			}
		}
		o.mu.Unlock()
		resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(o.Close)
	return o
}

// byName waits until the receiver holds spans of every name in want (the
// exporter sends in batches every few seconds) and returns them by name.
func (o *otlpReceiver) byName(t *testing.T, want ...string) map[string][]*tracepb.Span {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		o.mu.Lock()
		got := map[string][]*tracepb.Span{}
		for _, s := range o.spans {
			got[s.GetName()] = append(got[s.GetName()], s)
		}
		o.mu.Unlock()
		missing := ""
		for _, n := range want {
			if len(got[n]) == 0 {
				missing = n
			}
		}
		if missing == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q span exported after 30s (got %d spans)", missing, len(o.spans))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrape reads a Prometheus text exposition into series → value, the
// series written as exposed: name{label="value",...}.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds the series of metric name.
func sum(series map[string]float64, name string) float64 {
	total := 0.0
	for k, v := range series {
		if k == name || strings.HasPrefix(k, name+"{") {
			total += v
		}
	}
	return total
}

func TestMetricsAndSpansAfterEndToEnd(t *testing.T) {
	dir := t.TempDir()
	gsum, err := gen.Write(dir, gen.DefaultOptions(30))
	if err != nil {
		t.Fatalf("gen.Write: %v", err)
	}
	wantAssets := 0
	for _, n := range gsum.Counts {
		wantAssets += n
	}
	otlp := startOTLP(t)
	p := startPipeline(t, dir, func(c *config.Config) {
		c.MetricsAddr = "127.0.0.1:0"
		c.OTel = tracing.Options{Endpoint: otlp.URL, ServiceName: "harvester-test"}
	})
	ctx := t.Context()
	for _, typ := range []string{"job.run.started", "job.run.completed"} {
		if _, err := p.cloud.Deliver(ctx, typ); err != nil {
			t.Fatalf("Deliver(%s): %v", typ, err)
		}
	}
	if code := postHook(t, p.HookURL, []byte(`{"eventId":"x"}`), receiver.Sign([]byte("wrong"), []byte(`{"eventId":"x"}`))); code != http.StatusUnauthorized {
		t.Fatalf("badly signed webhook answered %d, want 401", code)
	}
	p.harvest(t)

	metricsURL := "http://" + p.Info.HTTPAddr.String() + "/metrics"
	var m map[string]float64
	deadline := time.Now().Add(15 * time.Second)
	for { // the counts follow the harvest event and the consumers' acks by a moment
		m = scrape(t, metricsURL)
		if m[`harvester_harvests_total{outcome="completed"}`] == 1 &&
			m[`harvester_consumer_pending{consumer="fetcher"}`] == 0 && m[`harvester_consumer_pending{consumer="normalizer"}`] == 0 ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fetched := lastArtifacts(t, p)
	var bytes float64
	for _, a := range fetched.Artifacts {
		bytes += float64(a.Size)
	}
	checks := []struct {
		series string
		got    float64
		want   float64
	}{
		{"webhooks accepted (started + completed)", m[`harvester_webhooks_total{outcome="accepted"}`], 2},
		{"webhooks unauthorized", m[`harvester_webhooks_total{outcome="unauthorized"}`], 1},
		{"webhooks duplicate", m[`harvester_webhooks_total{outcome="duplicate"}`], 0},
		{"webhook publishes timed", m[`harvester_webhook_publish_seconds_count`], 2},
		{"harvests completed", m[`harvester_harvests_total{outcome="completed"}`], 1},
		{"harvests failed", m[`harvester_harvests_total{outcome="failed"}`], 0},
		{"harvest durations", m[`harvester_harvest_duration_seconds_count`], 1},
		{"assets published", sum(m, "harvester_assets_published_total"), float64(wantAssets)},
		{"artifact bytes", m[`harvester_artifact_bytes_total`], bytes},
		{"artifact downloads answered 200", m[`harvester_dbt_api_requests_total{code="200",endpoint="GET /api/v2/accounts/{id}/runs/{id}/artifacts/{path}"}`], float64(len(fetched.Artifacts))},
		{"run reads answered 200", m[`harvester_dbt_api_requests_total{code="200",endpoint="GET /api/v2/accounts/{id}/runs/{id}"}`], 1},
		{"cooldown waits", m[`harvester_dbt_api_wait_seconds_total`], 0},
		{"fetcher pending", m[`harvester_consumer_pending{consumer="fetcher"}`], 0},
		{"normalizer pending", m[`harvester_consumer_pending{consumer="normalizer"}`], 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.series, c.got, c.want)
		}
	}
	for typ, n := range gsum.Counts {
		if got := m[fmt.Sprintf(`harvester_assets_published_total{resource_type=%q}`, typ)]; got != float64(n) {
			t.Errorf("assets published of type %s = %v, want %d", typ, got, n)
		}
	}
	for k := range m {
		_, endpoint, ok := strings.Cut(k, `endpoint="`)
		if !strings.HasPrefix(k, "harvester_dbt_api_requests_total{") || !ok {
			continue
		}
		endpoint = strings.NewReplacer("/api/v2/", "", "/api/v3/", "").Replace(endpoint)
		if strings.ContainsAny(endpoint, "0123456789") {
			t.Errorf("series %s: an ID in the endpoint label", k)
		}
	}
	if _, ok := m[`harvester_consumer_pending{consumer="fetcher"}`]; !ok {
		t.Error("no harvester_consumer_pending for the fetcher")
	}

	t.Run("metrics address", func(t *testing.T) {
		base := "http://" + p.Info.MetricsAddr.String()
		if got := scrape(t, base+"/metrics")[`harvester_harvests_total{outcome="completed"}`]; got != 1 {
			t.Errorf("harvests completed on HARVESTER_METRICS_ADDR = %v, want 1 (the same registry)", got)
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
			}
		}
	})

	t.Run("spans joined by the events' trace context", func(t *testing.T) {
		run := lastTrace(t, p, events.StreamRuns, "dbt.run.1.100.200.300.completed")
		art := lastTrace(t, p, events.StreamArtifacts, "dbt.artifacts.1.100.200.300")
		harv := lastTrace(t, p, events.StreamMetadata, "dbt.metadata.1.100.200.harvest")
		spans := otlp.byName(t, "receive", "fetch", "download", "normalize", "publish")
		find := func(name string, tr events.Trace) *tracepb.Span {
			for _, s := range spans[name] {
				if hex.EncodeToString(s.GetSpanId()) == tr.Parent[36:52] {
					if got := hex.EncodeToString(s.GetTraceId()); got != tr.TraceID() {
						t.Errorf("%s span trace ID %s, event's %s", name, got, tr.TraceID())
					}
					return s
				}
			}
			t.Fatalf("no %s span with the span ID of traceparent %s", name, tr.Parent)
			return nil
		}
		receive, fetch, normalize := find("receive", run), find("fetch", art), find("normalize", harv)
		if len(receive.GetParentSpanId()) != 0 {
			t.Errorf("receive span has parent %x: the webhook came without traceparent, so it is the root", receive.GetParentSpanId())
		}
		if got := hex.EncodeToString(fetch.GetParentSpanId()); got != run.Parent[36:52] {
			t.Errorf("fetch span's parent = %s, want the run event's span %s", got, run.Parent[36:52])
		}
		if got := hex.EncodeToString(normalize.GetParentSpanId()); got != art.Parent[36:52] {
			t.Errorf("normalize span's parent = %s, want the artifacts event's span %s", got, art.Parent[36:52])
		}
		stored := 0 // a download that found no file (404: absent) is a failed span
		for _, s := range spans["download"] {
			if string(s.GetParentSpanId()) == string(fetch.GetSpanId()) && s.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR {
				stored++
			}
		}
		if stored != len(fetched.Artifacts) {
			t.Errorf("successful download spans under fetch = %d, want one per stored artifact (%d)", stored, len(fetched.Artifacts))
		}
		parents := map[string]bool{}
		for _, s := range spans["publish"] {
			parents[string(s.GetParentSpanId())] = true
		}
		for _, s := range []*tracepb.Span{receive, fetch, normalize} {
			if !parents[string(s.GetSpanId())] {
				t.Errorf("no publish span under %s", s.GetName())
			}
		}
		otlp.mu.Lock()
		defer otlp.mu.Unlock()
		if len(otlp.services) == 0 || otlp.services[0] != "harvester-test" {
			t.Errorf("service.name = %v, want harvester-test", otlp.services)
		}
	})
}

func lastArtifacts(t *testing.T, p *pipeline) events.ArtifactsFetched {
	t.Helper()
	s, err := p.js.Stream(context.Background(), events.StreamArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(context.Background(), "dbt.artifacts.1.100.200.300")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Decode(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	a, err := events.DataAs[events.ArtifactsFetched](ev)
	if err != nil {
		t.Fatal(err)
	}
	if a.Run.ReceivedAt == nil {
		t.Error("artifacts event: run.received_at missing for a webhook's harvest")
	}
	return a
}

func lastTrace(t *testing.T, p *pipeline, stream, subject string) events.Trace {
	t.Helper()
	s, err := p.js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		t.Fatalf("last message on %s: %v", subject, err)
	}
	ev, err := events.Decode(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	tr := events.TraceOf(ev)
	if tr.Parent == "" {
		t.Fatalf("%s: no trace context", subject)
	}
	return tr
}
