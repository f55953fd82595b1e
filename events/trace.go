package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
)

// W3C Trace Context (https://www.w3.org/TR/trace-context/) on events, as the
// CloudEvents distributed tracing extension carries it: the attributes
// traceparent and tracestate.
const (
	ExtTraceParent = "traceparent"
	ExtTraceState  = "tracestate"
)

// Trace is a W3C trace context: a traceparent ("" for none) and its
// tracestate, passed on as it came.
type Trace struct {
	Parent, State string
}

// ParseTrace reads a traceparent and tracestate from outside (an HTTP
// header, an event). A traceparent that is not valid is no trace; a
// tracestate without a valid traceparent, or longer than 512 bytes, or not
// printable ASCII, is dropped. A higher version than 00 is read as 00 reads
// its first fields, as the specification asks.
func ParseTrace(parent, state string) Trace {
	p, ok := canonicalParent(parent)
	if !ok {
		return Trace{}
	}
	if len(state) > 512 || strings.IndexFunc(state, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		state = ""
	}
	return Trace{Parent: p, State: state}
}

// canonicalParent checks a traceparent and returns it as version 00.
func canonicalParent(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 55 || !isHex(s[:2]) || s[:2] == "ff" || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return "", false
	}
	if s[:2] == "00" && len(s) != 55 || len(s) > 55 && s[55] != '-' {
		return "", false
	}
	trace, span, flags := s[3:35], s[36:52], s[53:55]
	if !isHex(trace) || !isHex(span) || !isHex(flags) || allZero(trace) || allZero(span) {
		return "", false
	}
	return "00-" + trace + "-" + span + "-" + flags, true
}

// isHex reports whether s is lowercase hexadecimal, as traceparent requires.
func isHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

// NewTrace starts a trace: a random trace ID and span ID, sampled.
func NewTrace() Trace {
	return Trace{Parent: "00-" + randomHex(16) + "-" + randomHex(8) + "-01"}
}

// Child is the trace context of work done on behalf of t: the same trace
// and flags with a new span ID, the same tracestate. No trace has no child.
func (t Trace) Child() Trace {
	if t.Parent == "" {
		return t
	}
	return Trace{Parent: t.Parent[:36] + randomHex(8) + t.Parent[52:], State: t.State}
}

// Continue is the trace context of a stage that handles work traced by t:
// t's child, or with start and no t, a new trace; else none.
func (t Trace) Continue(start bool) Trace {
	if t.Parent == "" && start {
		return NewTrace()
	}
	return t.Child()
}

// TraceID is the trace ID of t, "" for none.
func (t Trace) TraceID() string {
	if t.Parent == "" {
		return ""
	}
	return t.Parent[3:35]
}

// randomHex is n random bytes in hexadecimal, never all zero.
func randomHex(n int) string {
	b := make([]byte, n)
	for {
		_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24+)
		for _, c := range b {
			if c != 0 {
				return hex.EncodeToString(b)
			}
		}
	}
}

// TraceOf is the trace context an event carries.
func TraceOf(ev event.Event) Trace {
	ext := ev.Extensions()
	parent, _ := ext[ExtTraceParent].(string)
	state, _ := ext[ExtTraceState].(string)
	return ParseTrace(parent, state)
}

// SetTrace puts t on ev; no trace sets nothing.
func SetTrace(ev *event.Event, t Trace) {
	if t.Parent == "" {
		return
	}
	ev.SetExtension(ExtTraceParent, t.Parent)
	if t.State != "" {
		ev.SetExtension(ExtTraceState, t.State)
	}
}

type traceKey struct{}

// WithTrace returns ctx carrying t, for the events published on its behalf.
func WithTrace(ctx context.Context, t Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// TraceFrom is the trace context ctx carries, none when it carries none.
func TraceFrom(ctx context.Context) Trace {
	t, _ := ctx.Value(traceKey{}).(Trace)
	return t
}
