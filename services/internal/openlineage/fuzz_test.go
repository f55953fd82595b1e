package openlineage

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
)

// FuzzBuild: whatever the artifacts say (statuses, names, code, messages,
// timings in any order), every event encodes to valid JSON under the
// message limit, and every node's START precedes its end.
func FuzzBuild(f *testing.F) {
	f.Add("success", "db", "analytics", "orders", "select 1", "id", "", int64(1), int64(3), "postgres", "fail")
	f.Add("error", "", "", "x", "", "", "boom \x00 \xff", int64(5), int64(-2), "bigquery", "")
	f.Add("skipped", "a.b", "c\"d", "e\\f", "<script>", "é", "", int64(0), int64(0), "mysql", "warn")
	f.Fuzz(func(t *testing.T, status, db, schema, ident, code, col, msg string, from, to int64, adapter, testStatus string) {
		assets := smallProject()
		orders := &assets[1]
		orders.Database, orders.Schema, orders.Identifier, orders.CompiledCode = db, schema, ident, code
		orders.Result = &events.Result{Status: status, Message: msg, ExecuteStarted: at(float64(from % 1e6)), ExecuteDone: at(float64(to % 1e6))}
		assets[3].Test.ColumnName, assets[3].Result.Status = col, testStatus
		h := smallHarvest()
		h.Project.AdapterType = adapter
		evs, _ := Build(h, collect(assets), Options{})
		seen := map[string]bool{}
		for _, e := range evs {
			b, _, err := Fit(e.RunEvent, MaxRunEvent)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) {
				t.Fatalf("invalid JSON: %s", b)
			}
			if _, err := time.Parse(time.RFC3339Nano, e.RunEvent.EventTime); err != nil {
				t.Fatal(err)
			}
			if e.RunEvent.EventType == Start {
				seen[e.RunEvent.Run.RunID] = true
			} else if !seen[e.RunEvent.Run.RunID] {
				t.Fatalf("%s %s before its START", e.Node, e.RunEvent.EventType)
			}
		}
		if _, _, err := Messages(h.Run.RunRef, 1, evs, events.Trace{}); err != nil {
			t.Fatal(err)
		}
	})
}
