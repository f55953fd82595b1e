package schematest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/corpus"
)

func TestValidateExamples(t *testing.T) {
	v := New(t)
	for _, set := range []struct {
		name     string
		examples []example
	}{
		{"full", fullExamples(t)},
		{"minimal", minimalExamples()},
	} {
		for _, ex := range set.examples {
			t.Run(set.name+"/"+ex.name, func(t *testing.T) {
				t.Parallel()
				if err := v.Validate(encode(t, ex)); err != nil {
					t.Errorf("Validate(%s event) = %v, want nil", ex.typ, err)
				}
			})
		}
	}
}

func TestEveryTypeHasASchema(t *testing.T) {
	v := New(t)
	for _, typ := range eventTypes() {
		for _, id := range []string{events.MessageSchema(typ), events.DataSchema(typ)} {
			if _, ok := v.schemas[id]; !ok {
				t.Errorf("no schema %s for type %s in %s", id, typ, Dir(t))
			}
		}
	}
}

// TestValidateDataAlone: the data of every example, without its envelope, is
// valid against the schema its dataschema names, and its dataschema is the
// type's data schema, not the message schema.
func TestValidateDataAlone(t *testing.T) {
	v := New(t)
	for _, ex := range append(fullExamples(t), minimalExamples()...) {
		t.Run(ex.name, func(t *testing.T) {
			b := encode(t, ex)
			var ev map[string]any
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			if ds := ev["dataschema"]; ds != events.DataSchema(ex.typ) {
				t.Errorf("dataschema = %v, want %s", ds, events.DataSchema(ex.typ))
			}
			if err := v.ValidateData(b); err != nil {
				t.Errorf("ValidateData(%s event) = %v, want nil", ex.typ, err)
			}
			// The data is what the data schema describes, not an envelope.
			if err := v.schemas[events.MessageSchema(ex.typ)].Validate(ev["data"]); err == nil {
				t.Errorf("the data of a %s event is valid against the message schema; want the schemas told apart", ex.typ)
			}
		})
	}
	bad, err := json.Marshal(map[string]any{"dataschema": events.DataSchema(events.TypeHarvestFailed), "id": "x",
		"data": map[string]any{"stage": "publish"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateData(bad); err == nil || !strings.Contains(err.Error(), "dataschema") {
		t.Errorf("ValidateData(harvest.failed data without run, stage publish) = %v, want an error naming the dataschema", err)
	}
}

// TestValidateWebhookFixtures wraps real dbt Cloud webhook bodies as the
// receiver does: the body unchanged as the data of a run CloudEvent.
func TestValidateWebhookFixtures(t *testing.T) {
	dir := filepath.Join(corpus.Reference(t), "dbt-cloud-api", "zulip", "zerver", "webhooks", "dbt", "fixtures")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatalf("list fixtures: %v", err)
	}
	if len(files) != 6 {
		t.Fatalf("found %d webhook fixtures in %s, want 6", len(files), dir)
	}
	v := New(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("read fixture: %v", err)
			}
			if err := v.Validate(wrapWebhook(t, body)); err != nil {
				t.Errorf("Validate(%s) = %v, want nil", filepath.Base(f), err)
			}
		})
	}
}

// wrapWebhook is what the receiver publishes for a webhook body.
func wrapWebhook(t *testing.T, body []byte) []byte {
	t.Helper()
	w, err := events.ParseRunWebhook(body)
	if err != nil {
		t.Fatalf("ParseRunWebhook: %v", err)
	}
	m, err := events.NewRunEvent(w, body, w.Timestamp, 1, events.Trace{})
	if err != nil {
		t.Fatalf("events.NewRunEvent: %v", err)
	}
	b, err := events.Encode(m.Event)
	if err != nil {
		t.Fatalf("events.Encode: %v", err)
	}
	return b
}

func TestValidateRejects(t *testing.T) {
	full := map[string][]byte{}
	for _, ex := range fullExamples(t) {
		if _, ok := full[ex.typ]; !ok { // the first example of each type
			full[ex.typ] = encode(t, ex)
		}
	}
	tests := []struct {
		name    string
		typ     string
		edit    func(ev map[string]any)
		wantErr bool
	}{
		{"unchanged asset", events.TypeAssetHarvested, func(map[string]any) {}, false},
		// Missing required members.
		{"asset without unique_id", events.TypeAssetHarvested, func(ev map[string]any) { delete(data(ev), "unique_id") }, true},
		{"asset without depends_on", events.TypeAssetHarvested, func(ev map[string]any) { delete(data(ev), "depends_on") }, true},
		{"artifacts without run", events.TypeArtifactsFetched, func(ev map[string]any) { delete(data(ev), "run") }, true},
		{"run facts without run_id", events.TypeHarvestFailed, func(ev map[string]any) { delete(obj(data(ev), "run"), "run_id") }, true},
		{"event without dbtrun", events.TypeHarvestCompleted, func(ev map[string]any) { delete(ev, events.ExtRun) }, true},
		{"event without data", events.TypeHarvestCompleted, func(ev map[string]any) { delete(ev, "data") }, true},
		{"webhook without eventId", events.TypeRunCompleted, func(ev map[string]any) { delete(data(ev), "eventId") }, true},
		{"webhook without runId", events.TypeRunCompleted, func(ev map[string]any) { delete(obj(data(ev), "data"), "runId") }, true},
		// Wrong types and values.
		{"size as string", events.TypeArtifactsFetched, func(ev map[string]any) { first(data(ev), "artifacts")["size"] = "48213377" }, true},
		{"uppercase sha256", events.TypeArtifactsFetched, func(ev map[string]any) {
			a := first(data(ev), "artifacts")
			a["sha256"] = strings.ToUpper(a["sha256"].(string))
		}, true},
		{"account_id as string", events.TypeAssetHarvested, func(ev map[string]any) { data(ev)["account_id"] = "70403103922125" }, true},
		{"dbtaccount as number", events.TypeAssetHarvested, func(ev map[string]any) { ev[events.ExtAccount] = 70403103922125 }, true},
		{"tags as string", events.TypeAssetHarvested, func(ev map[string]any) { data(ev)["tags"] = "finance" }, true},
		{"unknown change", events.TypeAssetHarvested, func(ev map[string]any) { data(ev)["change"] = "removed" }, true},
		{"unknown stage", events.TypeHarvestFailed, func(ev map[string]any) { data(ev)["stage"] = "publish" }, true},
		{"generation 0", events.TypeHarvestFailed, func(ev map[string]any) { data(ev)["generation"] = 0 }, true},
		{"time not RFC 3339", events.TypeHarvestFailed, func(ev map[string]any) { ev["time"] = "2026-03-02 06:14:51+00:00" }, true},
		{"failed_at not RFC 3339", events.TypeHarvestFailed, func(ev map[string]any) { data(ev)["failed_at"] = "yesterday" }, true},
		{"asset id of another stage", events.TypeAssetHarvested, func(ev map[string]any) { ev["id"] = events.HarvestID(exampleRef(), 2) }, true},
		{"type of another schema", events.TypeAssetHarvested, func(ev map[string]any) { ev["type"] = events.TypeHarvestCompleted }, true},
		{"webhook eventType against type", events.TypeRunCompleted, func(ev map[string]any) { data(ev)["eventType"] = "job.run.errored" }, true},
		{"runStatusCode as string", events.TypeRunCompleted, func(ev map[string]any) { obj(data(ev), "data")["runStatusCode"] = "10" }, true},
		{"data_base64", events.TypeAssetHarvested, func(ev map[string]any) { ev["data_base64"] = "e30=" }, true},
		{"unknown dataschema", events.TypeAssetHarvested, func(ev map[string]any) {
			ev["dataschema"] = events.SchemaBase + "data/dbt.harvester.asset.harvested.v9.json"
		}, true},
		{"dataschema of the whole message", events.TypeAssetHarvested, func(ev map[string]any) {
			ev["dataschema"] = events.MessageSchema(events.TypeAssetHarvested)
		}, true},
		{"dataschema of another type", events.TypeHarvestFailed, func(ev map[string]any) {
			ev["dataschema"] = events.DataSchema(events.TypeHarvestCompleted)
		}, true},
		// The replay generation.
		{"replayed run event", events.TypeRunCompleted, func(ev map[string]any) {
			ev["id"], ev[events.ExtGeneration] = events.ReplayID(ev["id"].(string), 2), "2"
		}, false},
		{"generation without a replay ID", events.TypeRunCompleted, func(ev map[string]any) { ev[events.ExtGeneration] = "2" }, true},
		{"generation 1", events.TypeRunCompleted, func(ev map[string]any) {
			ev["id"], ev[events.ExtGeneration] = events.ReplayID(ev["id"].(string), 1), "1"
		}, true},
		{"generation as number", events.TypeRunCompleted, func(ev map[string]any) {
			ev["id"], ev[events.ExtGeneration] = events.ReplayID(ev["id"].(string), 2), 2
		}, true},
		{"no dataschema", events.TypeAssetHarvested, func(ev map[string]any) { delete(ev, "dataschema") }, true},
		// Unknown members: rejected in the harvester's data, allowed in dbt's and in the envelope.
		{"unknown asset field", events.TypeAssetHarvested, func(ev map[string]any) { data(ev)["colour"] = "blue" }, true},
		{"unknown column field", events.TypeAssetHarvested, func(ev map[string]any) { first(data(ev), "columns")["nullable"] = true }, true},
		{"unknown result field", events.TypeAssetHarvested, func(ev map[string]any) { obj(data(ev), "result")["retries"] = 1 }, true},
		{"unknown run facts field", events.TypeArtifactsFetched, func(ev map[string]any) { obj(data(ev), "run")["cost"] = 1 }, true},
		{"unknown test outcome", events.TypeHarvestCompleted, func(ev map[string]any) { obj(data(ev), "tests")["flaky"] = 1 }, true},
		{"unknown harvest failed field", events.TypeHarvestFailed, func(ev map[string]any) { data(ev)["retry"] = true }, true},
		{"unknown webhook fields", events.TypeRunCompleted, func(ev map[string]any) {
			data(ev)["newTopLevel"] = 1
			obj(data(ev), "data")["runDuration"] = "00:14:35"
		}, false},
		{"webhook IDs as numbers", events.TypeRunCompleted, func(ev map[string]any) {
			d := obj(data(ev), "data")
			d["jobId"], d["runId"], d["environmentId"], d["projectId"] = 70403103936332, 70403118800123, 70403103931988, 70403103926818
		}, false},
		{"webhook accountId as string", events.TypeRunCompleted, func(ev map[string]any) { data(ev)["accountId"] = "70403103922125" }, false},
		{"webhook with webhooksID", events.TypeRunCompleted, func(ev map[string]any) {
			data(ev)["webhooksID"] = data(ev)["webhookId"]
			delete(data(ev), "webhookId")
		}, false},
		{"webhook without projectId", events.TypeRunCompleted, func(ev map[string]any) { delete(obj(data(ev), "data"), "projectId") }, false},
		{"trace context extension", events.TypeAssetHarvested, func(ev map[string]any) {
			ev["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		}, false},
	}
	v := New(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev map[string]any
			if err := json.Unmarshal(full[tt.typ], &ev); err != nil {
				t.Fatalf("decode example: %v", err)
			}
			tt.edit(ev)
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatalf("encode edited example: %v", err)
			}
			err = v.Validate(b)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("Validate(%s) = %v, want error: %v", tt.name, err, tt.wantErr)
			}
		})
	}
}

func TestValidateRejectsNonEvents(t *testing.T) {
	v := New(t)
	for _, in := range []string{``, `not json`, `[]`, `"event"`, `{}`, `{"dataschema": 1}`} {
		if err := v.Validate([]byte(in)); err == nil {
			t.Errorf("Validate(%q) = nil, want an error", in)
		}
	}
}

// recorder is a testing.TB that records Errorf instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestValidateHelper(t *testing.T) {
	good := encode(t, fullExamples(t)[0])
	var ev map[string]any
	if err := json.Unmarshal(good, &ev); err != nil {
		t.Fatalf("decode example: %v", err)
	}
	delete(data(ev), "fetched_at")
	bad, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	for _, tt := range []struct {
		name       string
		event      []byte
		wantErrors int
	}{
		{"valid", good, 0},
		{"invalid", bad, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			Validate(r, tt.event)
			if len(r.errors) != tt.wantErrors {
				t.Errorf("Validate reported %d errors %q, want %d", len(r.errors), r.errors, tt.wantErrors)
			}
			if tt.wantErrors > 0 && !strings.Contains(strings.Join(r.errors, "\n"), "fetched_at") {
				t.Errorf("Validate reported %q, want it to name the missing fetched_at", r.errors)
			}
		})
	}
}

func TestLoadRejectsMismatchedID(t *testing.T) {
	dir := t.TempDir()
	schema := `{"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "` + events.SchemaBase + `other.v1.json"}`
	if err := os.WriteFile(filepath.Join(dir, "mine.v1.json"), []byte(schema), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load(schema whose $id is not its file name) = nil error, want one")
	}
	// A data schema's $id has the data/ folder in it.
	dir = t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	schema = `{"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "` + events.SchemaBase + `mine.v1.json"}`
	if err := os.WriteFile(filepath.Join(dir, "data", "mine.v1.json"), []byte(schema), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load(data schema whose $id lacks data/) = nil error, want one")
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("Load(empty dir) = nil error, want one")
	}
}

// eventTypes is every CloudEvent type of the contract.
func eventTypes() []string {
	return []string{
		events.TypeRunStarted, events.TypeRunCompleted, events.TypeRunErrored,
		events.TypeArtifactsFetched, events.TypeAssetHarvested,
		events.TypeHarvestCompleted, events.TypeHarvestFailed,
	}
}

// The edit helpers below return a detached empty object when the member is
// missing, so that an edit of an example that lost the member changes nothing
// and its test case fails with a clear "want error".

func data(ev map[string]any) map[string]any { return obj(ev, "data") }

func obj(m map[string]any, key string) map[string]any {
	if o, ok := m[key].(map[string]any); ok {
		return o
	}
	return map[string]any{}
}

func first(m map[string]any, key string) map[string]any {
	if a, ok := m[key].([]any); ok && len(a) > 0 {
		if o, ok := a[0].(map[string]any); ok {
			return o
		}
	}
	return map[string]any{}
}
