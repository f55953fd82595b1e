// Package tracing exports the harvester's spans over OTLP/HTTP (protobuf)
// when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
// is set; without it a nil *Tracer starts no span and costs nothing.
//
// The events already carry W3C trace context (package events): each stage
// continues its input's traceparent with a new span ID on the events it
// publishes. [Tracer.Start] makes the stage's span exactly that span: its
// trace ID and span ID are those of the traceparent the stage's events
// carry, its parent the span of the traceparent the stage received. So the
// exported trace and the events agree: a subscriber holding an event's
// traceparent finds its span in the tracing backend. Spans inside a stage
// ([Child]: a download, a publish) get random span IDs.
//
// The process owns the exporter: [Tracer.Shutdown] flushes what is
// buffered. Export failures are dropped (spans are best effort) after
// OpenTelemetry's own error handler reported them.
package tracing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/dbt-harvester/harvester/events"
)

// ScopeName is the instrumentation scope of the harvester's spans.
const ScopeName = "github.com/dbt-harvester/harvester"

// Options say where to export. The zero value is off.
type Options struct {
	// Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL
	// (http://collector:4318); spans go to its /v1/traces.
	Endpoint string
	// TracesEndpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full URL
	// for spans; it wins over Endpoint.
	TracesEndpoint string
	// ServiceName is OTEL_SERVICE_NAME, else the caller's default.
	ServiceName string
}

// FromEnv reads the OpenTelemetry environment variables the harvester
// honours; OTEL_SDK_DISABLED=true turns tracing off.
func FromEnv(getenv func(string) string, serviceName string) Options {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return Options{}
	}
	o := Options{
		Endpoint:       strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")),
		TracesEndpoint: strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
		ServiceName:    strings.TrimSpace(getenv("OTEL_SERVICE_NAME")),
	}
	if o.ServiceName == "" {
		o.ServiceName = serviceName
	}
	return o
}

// Enabled reports whether spans are to be exported.
func (o Options) Enabled() bool { return o.Endpoint != "" || o.TracesEndpoint != "" }

// URL is where spans are posted.
func (o Options) URL() string {
	if o.TracesEndpoint != "" {
		return o.TracesEndpoint
	}
	return strings.TrimSuffix(o.Endpoint, "/") + "/v1/traces"
}

// Tracer starts the stages' spans. A nil Tracer starts none.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
}

// New starts an OTLP/HTTP exporter to o.URL(), or returns nil, nil when o
// is not enabled. It makes no connection until spans are exported.
func New(ctx context.Context, o Options) (*Tracer, error) {
	if !o.Enabled() {
		return nil, nil
	}
	if !strings.HasPrefix(o.URL(), "http://") && !strings.HasPrefix(o.URL(), "https://") {
		return nil, fmt.Errorf("tracing: OTLP endpoint %q is not an http(s) URL (only OTLP over HTTP is supported)", o.URL())
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(o.URL()))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	name := o.ServiceName
	if name == "" {
		name = "harvester"
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithIDGenerator(idGenerator{}),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", name))),
	)
	return &Tracer{tp: tp, tracer: tp.Tracer(ScopeName)}, nil
}

// Shutdown exports the spans still buffered and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// Start starts a stage's span: the work traced by parent (the trace
// context the stage received; none for a trace the stage starts) that
// publishes events carrying own. The span's IDs are own's; its parent is
// parent's span. The returned context carries the span for [Child] spans.
// With a nil Tracer, or no own trace, it starts nothing and returns ctx and
// a span that does nothing.
func (t *Tracer) Start(ctx context.Context, name string, parent, own events.Trace, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noop.Span{}
	}
	mine, ok := spanContext(own)
	if !ok {
		return ctx, noop.Span{}
	}
	opts := []trace.SpanStartOption{trace.WithAttributes(attrs...)}
	sctx := context.WithValue(ctx, wantKey{}, mine)
	if p, ok := spanContext(parent); ok && p.TraceID() == mine.TraceID() {
		sctx = trace.ContextWithRemoteSpanContext(sctx, p)
	} else {
		opts = append(opts, trace.WithNewRoot())
	}
	_, span := t.tracer.Start(sctx, name, opts...)
	return trace.ContextWithSpan(ctx, span), span // ctx, not sctx: children get IDs of their own
}

// Child starts a span inside the span ctx carries (a download, a publish),
// with the same tracer; when ctx carries no recording span it starts
// nothing.
func Child(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, noop.Span{}
	}
	return parent.TracerProvider().Tracer(ScopeName).Start(ctx, name, trace.WithAttributes(attrs...))
}

// End ends span, marking it failed with err if err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// spanContext reads a traceparent ("00-<trace>-<span>-<flags>", as
// events.ParseTrace keeps it) and its tracestate.
func spanContext(t events.Trace) (trace.SpanContext, bool) {
	p := t.Parent
	if len(p) != 55 {
		return trace.SpanContext{}, false
	}
	tid, err1 := trace.TraceIDFromHex(p[3:35])
	sid, err2 := trace.SpanIDFromHex(p[36:52])
	flags, err3 := hex.DecodeString(p[53:55])
	if err := errors.Join(err1, err2, err3); err != nil {
		return trace.SpanContext{}, false
	}
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]), Remote: true}
	if t.State != "" {
		if ts, err := trace.ParseTraceState(t.State); err == nil {
			cfg.TraceState = ts
		}
	}
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}

type wantKey struct{}

// idGenerator gives a stage's span the IDs its events carry (see Start),
// and every other span random ones.
type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if w, ok := ctx.Value(wantKey{}).(trace.SpanContext); ok {
		return w.TraceID(), w.SpanID()
	}
	var tid trace.TraceID
	for !tid.IsValid() {
		_, _ = rand.Read(tid[:])
	}
	return tid, randomSpanID()
}

func (idGenerator) NewSpanID(ctx context.Context, tid trace.TraceID) trace.SpanID {
	if w, ok := ctx.Value(wantKey{}).(trace.SpanContext); ok && w.TraceID() == tid {
		return w.SpanID()
	}
	return randomSpanID()
}

func randomSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		_, _ = rand.Read(sid[:]) // crypto/rand.Read does not fail (Go 1.24+)
	}
	return sid
}
