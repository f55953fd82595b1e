package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRunWebhook(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    RunRef
		kind    string
		hookID  string
		wantErr string
	}{
		{"ids as strings, as dbt sends them",
			`{"accountId":70403103922125,"webhookId":"wsu_1","eventId":"wev_1","eventType":"job.run.completed","data":{"jobId":"70403103936332","runId":"70403110257794","environmentId":"2","projectId":"3"}}`,
			RunRef{70403103922125, 3, 2, 70403103936332, 70403110257794}, RunCompleted, "wsu_1", ""},
		{"ids as numbers, older webhooksID spelling",
			`{"accountId":"1","webhooksID":"wsu_old","eventId":"wev_2","eventType":"job.run.started","data":{"jobId":4,"runId":5,"environmentId":6,"projectId":7}}`,
			RunRef{1, 7, 6, 4, 5}, RunStarted, "wsu_old", ""},
		{"no projectId in the earliest payloads",
			`{"accountId":1,"eventId":"wev_3","eventType":"job.run.errored","data":{"jobId":"4","runId":"5","environmentId":"6"}}`,
			RunRef{1, 0, 6, 4, 5}, RunErrored, "", ""},
		{"missing run", `{"accountId":1,"eventId":"e","eventType":"job.run.completed","data":{"jobId":"4","environmentId":"6"}}`, RunRef{}, "", "", "data.runId"},
		{"unknown type", `{"accountId":1,"eventId":"e","eventType":"job.run.cancelled","data":{"jobId":"4","runId":"5","environmentId":"6"}}`, RunRef{}, "", "", "job.run.cancelled"},
		{"id not a number", `{"accountId":1,"eventId":"e","eventType":"job.run.completed","data":{"jobId":"four","runId":"5","environmentId":"6"}}`, RunRef{}, "", "", "not a decimal integer"},
		{"negative id", `{"accountId":-1,"eventId":"e","eventType":"job.run.completed","data":{"jobId":"4","runId":"5","environmentId":"6"}}`, RunRef{}, "", "", "negative"},
		{"not an object", `[1,2]`, RunRef{}, "", "", "unroutable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseRunWebhook([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrUnroutable) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRunWebhook error = %v, want ErrUnroutable mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRunWebhook: %v", err)
			}
			if got := w.Ref(); got != tt.want {
				t.Errorf("Ref() = %+v, want %+v", got, tt.want)
			}
			if got := RunKind(w.EventType); got != tt.kind {
				t.Errorf("RunKind(%q) = %q, want %q", w.EventType, got, tt.kind)
			}
			if w.WebhookID != tt.hookID {
				t.Errorf("WebhookID = %q, want %q", w.WebhookID, tt.hookID)
			}
		})
	}
}

func TestSubjectsAndIDs(t *testing.T) {
	r := RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 5}
	tests := []struct{ got, want string }{
		{RunSubject(r, RunCompleted), "dbt.run.1.2.3.4.completed"},
		{ArtifactsSubject(r), "dbt.artifacts.1.2.3.4"},
		{AssetSubject(r, "model"), "dbt.metadata.1.2.3.asset.model"},
		{AssetSubject(r, "odd.type *"), "dbt.metadata.1.2.3.asset.odd_type__"},
		{HarvestSubject(r), "dbt.metadata.1.2.3.harvest"},
		{ObjectKey(1, 5, 4, ManifestJSON), "1/5/4/manifest.json"},
		{ArtifactsID(r, 1), "1/5/g1/artifacts"},
		{AssetID(r, 2, "model.p.m"), "1/5/g2/asset/model.p.m"},
		{HarvestID(r, 1), "1/5/g1/harvest"},
		{StableAssetID(1, 2, 3, "model.p.m"), "1/2/3/model.p.m"},
		{SchemaFile(TypeRunErrored), "com.getdbt.cloud.job.run.v1.json"},
		{SchemaFile(TypeAssetHarvested), "dbt.harvester.asset.harvested.v1.json"},
		{DataSchema(TypeRunStarted), "https://dbt-harvester.dev/schemas/data/com.getdbt.cloud.job.run.v1.json"},
		{DataSchema(TypeHarvestFailed), "https://dbt-harvester.dev/schemas/data/dbt.harvester.harvest.failed.v1.json"},
		{MessageSchema(TypeHarvestFailed), "https://dbt-harvester.dev/schemas/dbt.harvester.harvest.failed.v1.json"},
		{ReplayID("wev_2L6Z", 3), "wev_2L6Z/g3"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	r := RunRef{AccountID: 70403103922125, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 70403110257794}
	at := time.Date(2026, 3, 2, 6, 0, 9, 0, time.UTC)
	asset := Asset{AssetID: StableAssetID(r.AccountID, r.ProjectID, r.EnvironmentID, "model.p.m"), RunRef: r,
		UniqueID: "model.p.m", ResourceType: "model", Name: "m", Tags: []string{"a"}, Meta: map[string]any{"k": "v"}}
	m, err := NewAssetHarvested(asset, 1, at, Trace{})
	if err != nil {
		t.Fatalf("NewAssetHarvested: %v", err)
	}
	b, err := Encode(m.Event)
	if err != nil {
		t.Fatal(err)
	}
	var envelope map[string]any
	if err := json.Unmarshal(b, &envelope); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"specversion": "1.0", "type": TypeAssetHarvested, "id": "70403103922125/70403110257794/g1/asset/model.p.m",
		"dbtaccount": "70403103922125", "dbtrun": "70403110257794", "subject": "model.p.m",
		"dataschema": SchemaBase + "data/dbt.harvester.asset.harvested.v1.json", "datacontenttype": "application/json",
	} {
		if envelope[k] != want {
			t.Errorf("envelope[%q] = %v, want %v", k, envelope[k], want)
		}
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	got, err := DataAs[Asset](back)
	if err != nil {
		t.Fatal(err)
	}
	if got.UniqueID != asset.UniqueID || got.RunRef != r || got.Meta["k"] != "v" {
		t.Errorf("round trip = %+v", got)
	}
	ref, err := RefOf(back)
	if err != nil || ref != r {
		t.Errorf("RefOf = %+v, %v; want %+v", ref, err, r)
	}
	if _, err := Decode([]byte(`{"specversion":"1.0"}`)); err == nil {
		t.Error("Decode accepted an event without id, source and type")
	}
}

// TestConstructors: each constructor derives type, ID, subject, dataschema
// and time from its data, and the replay generation of a run event.
func TestConstructors(t *testing.T) {
	r := RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 5}
	at := time.Date(2026, 3, 2, 6, 0, 9, 0, time.UTC)
	facts := RunFacts{RunRef: r}
	body := []byte(`{"accountId":1,"eventId":"wev_1","eventType":"job.run.completed",` +
		"\n" + `"data":{"jobId":"4","runId":"5","environmentId":"3","projectId":"2","jobName":"a & <b>"}}`)
	hook, err := ParseRunWebhook(body)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTrace()
	must := func(m Message, err error) Message {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name                        string
		m                           Message
		typ, id, subject, ceSubject string
		generation                  string // the harvestgeneration extension, "" for none
		trace                       Trace
		at                          time.Time
	}{
		{"run event", must(NewRunEvent(hook, body, at, 1, tr)), TypeRunCompleted, "wev_1", "dbt.run.1.2.3.4.completed", "", "", tr, at},
		{"replayed run event", must(NewRunEvent(hook, body, at, 3, Trace{})), TypeRunCompleted, "wev_1/g3", "dbt.run.1.2.3.4.completed", "", "3", Trace{}, at},
		{"artifacts fetched", must(NewArtifactsFetched(ArtifactsFetched{Run: facts, Generation: 2, FetchedAt: at}, tr)),
			TypeArtifactsFetched, "1/5/g2/artifacts", "dbt.artifacts.1.2.3.4", "", "", tr, at},
		{"asset", must(NewAssetHarvested(Asset{RunRef: r, UniqueID: "model.p.m", ResourceType: "model"}, 2, at, tr)),
			TypeAssetHarvested, "1/5/g2/asset/model.p.m", "dbt.metadata.1.2.3.asset.model", "model.p.m", "", tr, at},
		{"asset as JSON", must(NewAssetHarvestedJSON(r, 1, "seed.p.s", "seed", []byte(`{"unique_id":"seed.p.s"}`), at, Trace{})),
			TypeAssetHarvested, "1/5/g1/asset/seed.p.s", "dbt.metadata.1.2.3.asset.seed", "seed.p.s", "", Trace{}, at},
		{"harvest completed", must(NewHarvestCompleted(HarvestCompleted{Run: facts, Generation: 1, CompletedAt: at}, tr)),
			TypeHarvestCompleted, "1/5/g1/harvest", "dbt.metadata.1.2.3.harvest", "", "", tr, at},
		{"harvest failed", must(NewHarvestFailed(HarvestFailed{Run: facts, Generation: 1, FailedAt: at.Add(time.Second)}, Trace{})),
			TypeHarvestFailed, "1/5/g1/harvest", "dbt.metadata.1.2.3.harvest", "", "", Trace{}, at.Add(time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.m.Event)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(Encode(event)): %v\n%s", err, b)
			}
			if tt.m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", tt.m.Subject, tt.subject)
			}
			if ev.Type() != tt.typ || ev.ID() != tt.id || ev.Subject() != tt.ceSubject || !ev.Time().Equal(tt.at) {
				t.Errorf("type, id, subject, time = %q, %q, %q, %v; want %q, %q, %q, %v",
					ev.Type(), ev.ID(), ev.Subject(), ev.Time(), tt.typ, tt.id, tt.ceSubject, tt.at)
			}
			if ev.DataSchema() != DataSchema(tt.typ) || ev.DataContentType() != "application/json" {
				t.Errorf("dataschema, datacontenttype = %q, %q; want %q, application/json", ev.DataSchema(), ev.DataContentType(), DataSchema(tt.typ))
			}
			if ref, err := RefOf(ev); err != nil || ref != r {
				t.Errorf("RefOf = %+v, %v; want %+v", ref, err, r)
			}
			gen, _ := ev.Extensions()[ExtGeneration].(string)
			if gen != tt.generation {
				t.Errorf("extension %s = %q, want %q", ExtGeneration, gen, tt.generation)
			}
			if got := TraceOf(ev); got != tt.trace {
				t.Errorf("TraceOf = %+v, want %+v", got, tt.trace)
			}
			if !json.Valid(ev.Data()) {
				t.Errorf("data is not JSON: %s", ev.Data())
			}
		})
	}
	// A run event's data is the body dbt Cloud signed, byte for byte.
	b, err := Encode(tests[0].m.Event)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Data()) != string(body) {
		t.Errorf("run event data = %s, want the body as received %s", ev.Data(), body)
	}
	if g := GenerationOf(ev); g != 1 {
		t.Errorf("GenerationOf(run event) = %d, want 1", g)
	}
	if g := GenerationOf(tests[1].m.Event); g != 3 {
		t.Errorf("GenerationOf(replayed run event) = %d, want 3", g)
	}
}

func TestConstructorsReject(t *testing.T) {
	r := RunRef{AccountID: 1, RunID: 5}
	at := time.Unix(0, 0)
	for _, data := range []string{``, `[1]`, `"x"`, `{`, `null`} {
		if _, err := NewAssetHarvestedJSON(r, 1, "model.p.m", "model", []byte(data), at, Trace{}); err == nil {
			t.Errorf("NewAssetHarvestedJSON(data %q) = nil error, want one", data)
		}
	}
	hook := RunWebhook{EventID: "wev_1", EventType: "job.run.cancelled", AccountID: 1}
	if _, err := NewRunEvent(hook, []byte(`{}`), at, 1, Trace{}); !errors.Is(err, ErrUnroutable) {
		t.Errorf("NewRunEvent(job.run.cancelled) = %v, want ErrUnroutable", err)
	}
}
