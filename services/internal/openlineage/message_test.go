package openlineage

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
	"github.com/dbt-harvester/harvester/services/internal/publish"
)

// TestFitCutsOversizedEvents: an event over the limit loses, in order, the
// tail of its SQL (with a note in the query), then dataset schemas; each
// result fits, stays valid, and says what was cut.
// A description over the message limit (a real project had one of 1.5 MiB)
// is cut, not the harvest failed.
func TestFitTruncatesDocumentation(t *testing.T) {
	ev := RunEvent{EventType: Start, EventTime: "2026-01-02T03:04:05.000Z", Producer: "p", SchemaURL: "s",
		Job: Job{Namespace: "n", Name: "seed.p.countries", Facets: JobFacets{
			Documentation: &DocumentationFacet{Description: "Countries é" + strings.Repeat("d", 3<<19)}}}}
	b, note, err := Fit(ev, MaxRunEvent)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	if len(b) > MaxRunEvent || !strings.Contains(note, "truncated its documentation") ||
		!strings.Contains(string(b), `"description":"Countries é`) || !strings.Contains(string(b), "description truncated from") {
		t.Errorf("Fit = %d bytes, note %q; want under %d, the description's start kept and a truncation note", len(b), note, MaxRunEvent)
	}
}

func TestFitCutsOversizedEvents(t *testing.T) {
	v := newSpecValidator(t)
	assets := smallProject()
	assets[1].CompiledCode = "select 1 -- é" + strings.Repeat("x", 2<<20)
	var wide []events.Column
	for i := range 20000 {
		wide = append(wide, events.Column{Name: "column_with_a_long_name_" + strings.Repeat("c", 20) + string(rune('a'+i%26)), DataType: "character varying(256)", Index: i + 1})
	}
	assets[6].Columns = wide // the source: an input of orders
	evs, _ := Build(smallHarvest(), collect(assets), smallOptions)
	var orders RunEvent
	for _, e := range evs {
		if e.Node == "model.p.orders" && e.RunEvent.EventType == Complete {
			orders = e.RunEvent
		}
	}
	tests := []struct {
		name     string
		limit    int
		wantNote []string
		check    func(t *testing.T, b string)
	}{
		{"SQL truncated", MaxRunEvent, []string{"truncated its SQL", "dropped its inputs' schemas"}, func(t *testing.T, b string) {
			if !strings.Contains(b, "compiled code truncated from") || !strings.Contains(b, `"query":"select 1 -- é`) {
				t.Error("the query lost its start or has no truncation note")
			}
		}},
		{"SQL cut to a quarter, input schemas dropped", 20 << 10, []string{"truncated its SQL", "dropped its inputs' schemas"}, func(t *testing.T, b string) {
			if !strings.Contains(b, "to 5120 bytes") || strings.Count(b, `"schema":`) != 1 {
				t.Error("want 5 KiB of SQL and the output's schema only")
			}
		}},
		{"SQL dropped", 3 << 10, []string{"dropped its dataset facets", "dropped its SQL"}, func(t *testing.T, b string) {
			if strings.Contains(b, `"sql":`) {
				t.Error("the SQL facet is still there")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, note, err := Fit(orders, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > tt.limit {
				t.Errorf("fitted event is %d bytes, over %d", len(b), tt.limit)
			}
			for _, w := range tt.wantNote {
				if !strings.Contains(note, w) {
					t.Errorf("note %q does not say %q", note, w)
				}
			}
			if err := v.validate(b); err != nil {
				t.Errorf("fitted event invalid: %v", err)
			}
			tt.check(t, string(b))
		})
	}
	if _, _, err := Fit(orders, 300); err == nil {
		t.Error("Fit to 300 bytes succeeded, want ErrTooLarge")
	}
	ces, notes, err := CloudEvents(smallHarvest().Run.RunRef, 1, evs, events.Trace{})
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) == 0 {
		t.Error("CloudEvents gave no note for the oversized events")
	}
	for _, m := range ces {
		if _, err := publish.Msg(m); err != nil {
			t.Errorf("%s: %v", m.Event.ID(), err)
		}
	}
}

func TestCloudEvents(t *testing.T) {
	h := smallHarvest()
	evs, _ := Build(h, collect(smallProject()), smallOptions)
	ces, _, err := CloudEvents(h.Run.RunRef, 1, evs, events.Trace{})
	if err != nil {
		t.Fatal(err)
	}
	first, last := ces[0].Event, ces[len(ces)-1].Event
	if first.ID() != "1/5/g1/openlineage/run/START" || last.ID() != "1/5/g1/openlineage/run/FAIL" ||
		ces[1].Event.ID() != "1/5/g1/openlineage/seed.p.countries/START" {
		t.Errorf("IDs = %s, %s, ..., %s", first.ID(), ces[1].Event.ID(), last.ID())
	}
	v := newSpecValidator(t)
	envelope, err := v.schema(events.SchemaBase + "dbt.harvester.openlineage.run.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ces {
		ce := m.Event
		b, _ := events.Encode(ce)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := envelope.Validate(inst); err != nil {
			t.Errorf("%s against schemas/dbt.harvester.openlineage.run.v1.json: %v", ce.ID(), err)
		}
		if ce.Type() != events.TypeOpenLineageRun || ce.DataSchema() != events.OpenLineageRunEventSchema ||
			ce.Extensions()[events.ExtRun] != "5" || ce.Subject() == "" {
			t.Errorf("%s: type %s dataschema %s extensions %v subject %q", ce.ID(), ce.Type(), ce.DataSchema(), ce.Extensions(), ce.Subject())
		}
		back, err := events.Decode(b)
		if err != nil || back.ID() != ce.ID() {
			t.Errorf("round trip of %s: %v", ce.ID(), err)
		}
	}
	if got := events.OpenLineageSubject(h.Run.RunRef); got != "dbt.openlineage.1.2.3.4" {
		t.Errorf("subject = %s", got)
	}
}

// TestMessagesAreTheCloudEvents: the messages written directly are the
// CloudEvents the SDK builds (same attributes, same data), with the headers
// publish.Msg sets, with and without trace context.
func TestMessagesAreTheCloudEvents(t *testing.T) {
	h := smallHarvest()
	evs, _ := Build(h, collect(smallProject()), smallOptions)
	for _, tr := range []events.Trace{{}, events.NewTrace()} {
		ces, _, err := CloudEvents(h.Run.RunRef, 2, evs, tr)
		if err != nil {
			t.Fatal(err)
		}
		msgs, _, err := Messages(h.Run.RunRef, 2, evs, tr)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != len(ces) {
			t.Fatalf("%d messages, %d CloudEvents", len(msgs), len(ces))
		}
		for i, m := range ces {
			ce := m.Event
			want, err := publish.Msg(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.Decode(msgs[i].Data)
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			wantJSON, _ := events.Encode(ce)
			gotJSON, _ := events.Encode(got)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("message %d:\n got %s\nwant %s", i, gotJSON, wantJSON)
			}
			if msgs[i].Subject != want.Subject || fmt.Sprint(msgs[i].Header) != fmt.Sprint(want.Header) {
				t.Errorf("message %d: subject %s headers %v, want %s %v", i, msgs[i].Subject, msgs[i].Header, want.Subject, want.Header)
			}
		}
	}
}

// TestEachMessage: on a project with many chunks of events (a Plan's,
// built and encoded on every CPU), the messages are Build's events in
// order, and fn's error stops it at once.
func TestEachMessage(t *testing.T) {
	h := smallHarvest()
	c := &Collector{}
	if _, err := normalize.JSON(t.Context(), genInput(t, gen.DefaultOptions(100)), normalize.Options{IncludeCode: true}, func(e normalize.Encoded) error {
		a, err := DecodeAsset(e.JSON)
		c.Add(a)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	plan := NewPlan(h, c, smallOptions)
	evs, _ := Build(h, c, smallOptions)
	if len(evs) < 3*eachChunk || plan.Len() != len(evs) {
		t.Fatalf("%d events, want several chunks' worth", len(evs))
	}
	ces, _, err := CloudEvents(h.Run.RunRef, 1, evs, events.Trace{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	if _, err := EachMessage(h.Run.RunRef, 1, plan.Len(), plan.Event, events.Trace{}, func(m *nats.Msg) error { // built on every CPU
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, ce := range ces {
		if i >= len(ids) || ids[i] != ce.Event.ID() {
			t.Fatalf("message %d is not event %s (%d messages)", i, ce.Event.ID(), len(ids))
		}
	}
	stop := errors.New("backend gone")
	calls := 0
	_, err = EachMessage(h.Run.RunRef, 1, len(evs), func(i int) Event { return evs[i] }, events.Trace{}, func(*nats.Msg) error {
		if calls++; calls == eachChunk+7 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != eachChunk+7 {
		t.Errorf("EachMessage with fn failing at call %d = %v after %d calls, want %v at once", eachChunk+7, err, calls, stop)
	}
}
