package events

import (
	"testing"
	"time"
)

func TestOpenLineageNames(t *testing.T) {
	r := RunRef{AccountID: 70403103922125, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 5}
	if got, want := OpenLineageSubject(r), "dbt.openlineage.70403103922125.2.3.4"; got != want {
		t.Errorf("OpenLineageSubject = %q, want %q", got, want)
	}
	if got, want := OpenLineageID(r, 2, "model.p.orders", "COMPLETE"), "70403103922125/5/g2/openlineage/model.p.orders/COMPLETE"; got != want {
		t.Errorf("OpenLineageID = %q, want %q", got, want)
	}
	m, err := NewOpenLineageRun(r, 1, "run", "START", "dbt_cloud.1.2.3.4", time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		[]byte(`{"eventType":"START"}`), Trace{})
	if err != nil {
		t.Fatal(err)
	}
	ev := m.Event
	if ev.Type() != TypeOpenLineageRun || ev.DataSchema() != OpenLineageRunEventSchema || ev.Subject() != "dbt_cloud.1.2.3.4" ||
		string(ev.Data()) != `{"eventType":"START"}` || ev.Extensions()[ExtRun] != "5" || ev.ID() != "70403103922125/5/g1/openlineage/run/START" ||
		m.Subject != OpenLineageSubject(r) || DataSchema(TypeOpenLineageRun) != OpenLineageRunEventSchema {
		t.Errorf("NewOpenLineageRun = %s %v", m.Subject, ev)
	}
	if _, err := NewOpenLineageRun(r, 1, "run", "START", "", time.Now(), []byte(`[1]`), Trace{}); err == nil {
		t.Error("NewOpenLineageRun with data that is not an object: no error")
	}
}
