package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/dbt-harvester/harvester/events"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		enabled bool
		url     string
		service string
	}{
		{"unset", map[string]string{}, false, "/v1/traces", "harvester-fetcher"},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, true, "http://collector:4318/v1/traces", "harvester-fetcher"},
		{"traces endpoint wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/otlp/traces"}, true, "https://b/otlp/traces", "harvester-fetcher"},
		{"service name", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_SERVICE_NAME": "etl"}, true, "http://a:4318/v1/traces", "etl"},
		{"disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_SDK_DISABLED": "true"}, false, "/v1/traces", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := FromEnv(func(k string) string { return tt.env[k] }, "harvester-fetcher")
			if o.Enabled() != tt.enabled || o.URL() != tt.url || o.ServiceName != tt.service {
				t.Errorf("FromEnv = %+v (enabled %v, URL %q), want enabled %v, URL %q, service %q", o, o.Enabled(), o.URL(), tt.enabled, tt.url, tt.service)
			}
		})
	}
}

func TestNewRejectsGRPCEndpoint(t *testing.T) {
	if _, err := New(context.Background(), Options{TracesEndpoint: "collector:4317"}); err == nil {
		t.Error("New(collector:4317) = nil error, want one saying only OTLP over HTTP is supported")
	}
}

// TestStartUsesTheEventsIDs checks that a stage's span has the trace and
// span IDs of the trace context its events carry, and its parent's.
func TestStartUsesTheEventsIDs(t *testing.T) {
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		posts.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	tr, err := New(context.Background(), Options{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	parent := events.ParseTrace("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "vendor=x")
	own := parent.Child()
	tests := []struct {
		name          string
		parent, own   events.Trace
		recording     bool
		wantParentHex string
	}{
		{"continued", parent, own, true, "b7ad6b7169203331"},
		{"started here", events.Trace{}, events.NewTrace(), true, ""},
		{"not sampled upstream", events.ParseTrace("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", ""),
			events.ParseTrace("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203332-00", ""), false, ""},
		{"no trace", events.Trace{}, events.Trace{}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, span := tr.Start(context.Background(), "stage", tt.parent, tt.own)
			defer span.End()
			if span.IsRecording() != tt.recording {
				t.Fatalf("recording = %v, want %v", span.IsRecording(), tt.recording)
			}
			if !tt.recording {
				return
			}
			sc := span.SpanContext()
			if sc.TraceID().String() != tt.own.TraceID() || sc.SpanID().String() != tt.own.Parent[36:52] {
				t.Errorf("span %s/%s, want the events' %s", sc.TraceID(), sc.SpanID(), tt.own.Parent)
			}
			p := span.(sdktrace.ReadOnlySpan).Parent()
			if got := p.SpanID().String(); p.IsValid() && got != tt.wantParentHex || !p.IsValid() && tt.wantParentHex != "" {
				t.Errorf("parent span = %s (valid %v), want %q", got, p.IsValid(), tt.wantParentHex)
			}
			_, child := Child(ctx, "publish")
			defer child.End()
			if cs := child.SpanContext(); cs.TraceID() != sc.TraceID() || cs.SpanID() == sc.SpanID() || !child.IsRecording() {
				t.Errorf("child span %s/%s: want the same trace, its own span ID", cs.TraceID(), cs.SpanID())
			}
		})
	}
	var nilTracer *Tracer
	if _, span := nilTracer.Start(context.Background(), "x", parent, own); span.IsRecording() {
		t.Error("a nil Tracer started a recording span")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if posts.Load() == 0 {
		t.Error("Shutdown exported nothing")
	}
}
