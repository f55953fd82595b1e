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
	ev, err := New(TypeAssetHarvested, AssetID(r, 1, asset.UniqueID), r, asset.UniqueID, at, asset)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b, err := Encode(ev)
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
		"dataschema": SchemaBase + "dbt.harvester.asset.harvested.v1.json", "datacontenttype": "application/json",
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
