package events

import (
	"strings"
	"testing"
	"time"
)

func TestParseTrace(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		parent, state string
		want          Trace
	}{
		{valid, "congo=t61rcWkgMzE", Trace{valid, "congo=t61rcWkgMzE"}},
		{" " + valid + " ", "", Trace{Parent: valid}},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", "", Trace{Parent: valid}}, // a higher version
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "", Trace{}},                   // 00 has no more fields
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "", Trace{}},                     // version ff is invalid
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", Trace{}},                     // zero trace ID
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "", Trace{}},                     // zero span ID
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "", Trace{}},                     // uppercase
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "", Trace{}},                        // short
		{"", "congo=x", Trace{}},
		{valid, strings.Repeat("a", 513), Trace{Parent: valid}},
		{valid, "bad\nstate", Trace{Parent: valid}},
	}
	for _, tt := range tests {
		if got := ParseTrace(tt.parent, tt.state); got != tt.want {
			t.Errorf("ParseTrace(%q, %q) = %+v, want %+v", tt.parent, tt.state, got, tt.want)
		}
	}
}

func TestTraceChild(t *testing.T) {
	if (Trace{}).Child() != (Trace{}) || (Trace{}).Continue(false) != (Trace{}) || NewTrace().Parent == "" {
		t.Fatal("no trace must have no child, and NewTrace a trace")
	}
	if started := (Trace{}).Continue(true); ParseTrace(started.Parent, "") != started || started.Parent == "" {
		t.Errorf("Continue(true) of no trace = %+v, want a new trace", started)
	}
	parent := ParseTrace(NewTrace().Parent, "k=v")
	if parent.Parent == "" {
		t.Fatalf("NewTrace is not a valid traceparent")
	}
	child := parent.Continue(true) // continued, not restarted
	if ParseTrace(child.Parent, child.State) != child || child.TraceID() != parent.TraceID() ||
		child.Parent == parent.Parent || child.Parent[52:] != parent.Parent[52:] || child.State != "k=v" {
		t.Errorf("child %+v of %+v: want the same trace, flags and state with a new span", child, parent)
	}
}

func TestTraceOnEvent(t *testing.T) {
	m, err := NewHarvestCompleted(HarvestCompleted{Run: RunFacts{RunRef: RunRef{AccountID: 1, RunID: 2}}, Generation: 1,
		CompletedAt: time.Unix(1700000000, 0)}, Trace{})
	if err != nil {
		t.Fatal(err)
	}
	ev := m.Event
	if TraceOf(ev) != (Trace{}) {
		t.Fatalf("a new event carries %+v, want no trace", TraceOf(ev))
	}
	tr := ParseTrace(NewTrace().Parent, "a=b")
	SetTrace(&ev, tr)
	b, err := Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := TraceOf(back); got != tr || !strings.Contains(string(b), `"traceparent":"`+tr.Parent+`"`) {
		t.Errorf("trace through the wire = %+v in %s, want %+v", got, b, tr)
	}
	if got := TraceFrom(WithTrace(t.Context(), tr)); got != tr || TraceFrom(t.Context()) != (Trace{}) {
		t.Errorf("TraceFrom = %+v, want %+v", got, tr)
	}
}

// FuzzParseTrace: any header parses without panic, and what is accepted is
// a version-00 traceparent that parses to itself.
func FuzzParseTrace(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "congo=t61rcWkgMzE")
	f.Add("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-the-future-holds", "")
	f.Fuzz(func(t *testing.T, parent, state string) {
		tr := ParseTrace(parent, state)
		if tr.Parent == "" {
			if tr.State != "" {
				t.Fatalf("ParseTrace(%q, %q) = %+v: a state without a parent", parent, state, tr)
			}
			return
		}
		if len(tr.Parent) != 55 || !strings.HasPrefix(tr.Parent, "00-") || ParseTrace(tr.Parent, tr.State) != tr {
			t.Fatalf("ParseTrace(%q, %q) = %+v, not a canonical traceparent", parent, state, tr)
		}
	})
}
