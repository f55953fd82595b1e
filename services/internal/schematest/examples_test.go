package schematest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
)

// The example values below set every field, so that validating them exercises
// every property of the schemas; TestExamplesAreFullyPopulated keeps it so
// when the events types grow.

// exampleRef is the run of every example, with 14-digit IDs as real ones have.
func exampleRef() events.RunRef {
	return events.RunRef{
		AccountID:     70403103922125,
		ProjectID:     70403103926818,
		EnvironmentID: 70403103931988,
		JobID:         70403103936332,
		RunID:         70403118800123,
	}
}

// exampleTime is the time of every example.
func exampleTime() time.Time { return time.Date(2026, 3, 2, 6, 14, 51, 118402230, time.UTC) }

func ptr[T any](v T) *T { return &v }

func at(d time.Duration) *time.Time { return ptr(exampleTime().Add(d)) }

func fullRunFacts() events.RunFacts {
	return events.RunFacts{
		RunRef:              exampleRef(),
		JobName:             "Nightly production build",
		ProjectName:         "analytics",
		EnvironmentName:     "Production",
		Status:              "Success",
		StatusCode:          10,
		StatusMessage:       "None",
		DBTVersion:          "2025.9.30+21d3fd7",
		TriggerCause:        "Kicked off by the scheduler",
		GitBranch:           "main",
		GitSHA:              "4f1c2a9d0b7e6c5a4b3c2d1e0f9a8b7c6d5e4f3a",
		StartedAt:           at(-15 * time.Minute),
		FinishedAt:          at(-11 * time.Second),
		HasDocsGenerated:    true,
		HasSourcesGenerated: true,
		Href:                "https://ab123.us1.dbt.com/deploy/70403103922125/projects/70403103926818/runs/70403118800123/",
		WebhookEventID:      "wev_2uZ0aB9cD8eF7gH6iJ5kL4mN3oP",
		ReceivedAt:          at(-9 * time.Second),
	}
}

func fullAbsent() []events.AbsentArtifact {
	return []events.AbsentArtifact{{Name: events.SourcesJSON, Step: 4, Reason: "the source freshness step failed before writing sources.json"}}
}

func fullArtifactsFetched() events.ArtifactsFetched {
	return events.ArtifactsFetched{
		Run:        fullRunFacts(),
		Generation: 2,
		Artifacts: []events.StoredArtifact{{
			Name:          events.ManifestJSON,
			Step:          5,
			StepName:      "Invoke dbt with `dbt build`",
			Bucket:        events.BucketArtifacts,
			Key:           events.ObjectKey(exampleRef().AccountID, exampleRef().RunID, 5, events.ManifestJSON),
			Size:          48213377,
			SHA256:        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			SchemaVersion: "https://schemas.getdbt.com/dbt/manifest/v12.json",
			Command:       "build",
			InvocationID:  "6e1f1c4a-2b1d-4c55-9a3e-0f5d3f1b2c7d",
		}},
		Absent:    fullAbsent(),
		Warnings:  []string{"catalog.json: 3 nodes missing from the catalog"},
		FetchedAt: exampleTime(),
	}
}

func fullAsset() events.Asset {
	const id = "model.jaffle_shop.orders"
	return events.Asset{
		AssetID:          events.StableAssetID(exampleRef().AccountID, exampleRef().ProjectID, exampleRef().EnvironmentID, id),
		RunRef:           exampleRef(),
		UniqueID:         id,
		ResourceType:     "model",
		Name:             "orders",
		PackageName:      "jaffle_shop",
		OriginalFilePath: "models/marts/orders.sql",
		Path:             "marts/orders.sql",
		FQN:              []string{"jaffle_shop", "marts", "orders"},
		Database:         "analytics",
		Schema:           "marts",
		Identifier:       "orders",
		RelationName:     `"analytics"."marts"."orders"`,
		Materialization:  "incremental",
		TableType:        "BASE TABLE",
		TableComment:     "Orders, one row each",
		TableOwner:       "TRANSFORMER",
		Language:         "sql",
		Description:      "One row per order.",
		Label:            "Orders",
		MetricType:       "simple",
		Tags:             []string{"finance"},
		Meta:             map[string]any{"tier": "gold", "sla_hours": 6},
		Owner:            "data-platform@example.com",
		Group:            "finance",
		Access:           "public",
		Version:          "2",
		LatestVersion:    "2",
		ContractEnforced: true,
		Constraints:      []map[string]any{{"type": "primary_key", "columns": []any{"order_id"}}},
		DeprecationDate:  "2027-01-01T00:00:00Z",
		Columns: []events.Column{{
			Name:           "order_id",
			DataType:       "NUMBER",
			DataTypeSource: "catalog",
			Description:    "The order's key.",
			Index:          1,
			Comment:        "primary key",
			Tags:           []string{"pk"},
			Meta:           map[string]any{"pii": false},
			Constraints:    []map[string]any{{"type": "not_null"}},
			Tests:          []string{"test.jaffle_shop.not_null_orders_order_id.a1b2c3d4e5"},
			TestResults:    &events.TestOutcomes{Pass: 1, Warn: 1, Fail: 1, Error: 1, Skipped: 1, Other: 1},
			InCatalog:      true,
			InManifest:     true,
		}},
		DependsOn:    []string{"model.jaffle_shop.stg_orders"},
		Downstream:   []string{"exposure.jaffle_shop.revenue_dashboard"},
		Tests:        []string{"test.jaffle_shop.not_null_orders_order_id.a1b2c3d4e5"},
		TestResults:  &events.TestOutcomes{Pass: 3, Warn: 1, Fail: 1, Error: 1, Skipped: 1, Other: 1},
		Checksum:     "b4a3c1e2f0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3",
		RawCode:      "select * from {{ ref('stg_orders') }}",
		CompiledCode: `select * from "analytics"."staging"."stg_orders"`,
		Result: &events.Result{
			Status:          "success",
			ExecutionTime:   2.731,
			Message:         "SUCCESS 1200",
			Failures:        ptr(int64(0)),
			RowsAffected:    ptr(int64(1200)),
			AdapterResponse: map[string]any{"_message": "SUCCESS 1200", "code": "SUCCESS", "rows_affected": 1200},
			ThreadID:        "Thread-3",
			CompileStarted:  at(-3 * time.Minute),
			CompileDone:     at(-3*time.Minute + time.Second),
			ExecuteStarted:  at(-3*time.Minute + time.Second),
			ExecuteDone:     at(-3*time.Minute + 4*time.Second),
			InvocationID:    "0b6f3c1e-8a8e-4b4e-9d55-1f0c7e2e8a11",
			MaxLoadedAt:     at(-2 * time.Hour),
			SnapshottedAt:   at(-time.Minute),
			AgeSeconds:      ptr(7140.5),
			Criteria:        map[string]any{"warn_after": map[string]any{"count": 12, "period": "hour"}},
		},
		Test: &events.TestInfo{
			TestName:     "accepted_values",
			Kwargs:       map[string]any{"column_name": "status", "values": []any{"placed", "shipped"}},
			AttachedNode: "model.jaffle_shop.orders",
			ColumnName:   "status",
			Severity:     "warn",
			WarnIf:       "!= 0",
			ErrorIf:      "> 10",
		},
		Source: &events.SourceInfo{
			SourceName:    "raw",
			Loader:        "fivetran",
			LoadedAtField: "_fivetran_synced",
			Freshness:     map[string]any{"warn_after": map[string]any{"count": 12, "period": "hour"}},
		},
		Exposure: &events.ExposureInfo{
			Type:       "dashboard",
			Maturity:   "high",
			URL:        "https://bi.example.com/dashboards/42",
			OwnerName:  "Finance analytics",
			OwnerEmail: "finance@example.com",
		},
		SemanticModel: &events.SemanticModelInfo{
			Model:         "ref('orders')",
			PrimaryEntity: "order",
			Entities:      []map[string]any{{"name": "order", "type": "primary", "expr": "order_id"}},
			Dimensions:    []map[string]any{{"name": "ordered_at", "type": "time"}},
			Measures:      []map[string]any{{"name": "order_total", "agg": "sum"}},
		},
		Metric: &events.MetricInfo{
			TypeParams: map[string]any{"measure": map[string]any{"name": "order_total"}},
			Filter:     map[string]any{"where_filters": []any{}},
		},
		SavedQuery: &events.SavedQueryInfo{
			QueryParams: map[string]any{"metrics": []any{"revenue"}},
			Exports:     []map[string]any{{"name": "revenue_export"}},
		},
		Stats:      map[string]any{"row_count": 1200, "has_stats": true},
		FullObject: "70403103922125/70403118800123/assets/model.jaffle_shop.orders.json",
		LastResult: &events.LastResult{
			Result: events.Result{Status: "success", ExecutionTime: 2.731, Message: "SUCCESS 1200", Failures: ptr(int64(0)),
				RowsAffected: ptr(int64(1200)), AdapterResponse: map[string]any{"rows_affected": 1200}, ThreadID: "Thread-3",
				CompileStarted: at(-3 * time.Minute), CompileDone: at(-3*time.Minute + time.Second),
				ExecuteStarted: at(-3*time.Minute + time.Second), ExecuteDone: at(-3*time.Minute + 4*time.Second),
				InvocationID: "0b6f3c1e-8a8e-4b4e-9d55-1f0c7e2e8a11", MaxLoadedAt: at(-2 * time.Hour),
				SnapshottedAt: at(-time.Minute), AgeSeconds: ptr(7140.5), Criteria: map[string]any{"warn_after": map[string]any{"count": 12}}},
			RunID: 70403118800123,
			At:    *at(-time.Minute),
		},
		Change:        "changed",
		ChangedFields: []string{"columns", "description"},
	}
}

func fullHarvestCompleted() events.HarvestCompleted {
	return events.HarvestCompleted{
		Run:              fullRunFacts(),
		Generation:       2,
		Assets:           487,
		Counts:           map[string]int{"model": 120, "test": 340, "source": 27},
		ResultStatuses:   map[string]int{"success": 118, "error": 1, "pass": 335, "fail": 2},
		Tests:            events.TestOutcomes{Pass: 335, Warn: 1, Fail: 2, Error: 1, Skipped: 3, Other: 1},
		Changes:          map[string]int{"new": 2, "changed": 5, "unchanged": 480},
		Removed:          []string{"70403103922125/70403103926818/70403103931988/model.jaffle_shop.old_orders"},
		ArtifactVersions: map[string]string{events.ManifestJSON: "https://schemas.getdbt.com/dbt/manifest/v12.json"},
		Project: &events.ProjectInfo{Name: "jaffle_shop", DBTVersion: "1.10.2", AdapterType: "snowflake",
			ProjectIDHash: "06e5b98c2db46f8a72cc4f66410e9b3b", InvocationID: "0b6f3c1e-8a8e-4b4e-9d55-1f0c7e2e8a11",
			GeneratedAt: "2026-01-15T06:00:00.000000Z", SchemaVersion: "https://schemas.getdbt.com/dbt/manifest/v12.json"},
		Groups: []events.GroupInfo{{UniqueID: "group.jaffle_shop.finance", Name: "finance", Description: "Finance models.",
			OwnerName: "Finance analytics", OwnerEmail: "finance@example.com"}},
		Absent:          fullAbsent(),
		Warnings:        []string{"run_results.json: unknown status \"reused\" counted as other"},
		StartedAt:       exampleTime(),
		CompletedAt:     exampleTime().Add(1830 * time.Millisecond),
		NormalizeMillis: 1830,
	}
}

func fullHarvestFailed() events.HarvestFailed {
	return events.HarvestFailed{
		Run:        fullRunFacts(),
		Generation: 2,
		Stage:      "fetch",
		Reason:     "dbt Cloud answered 403 for run 70403118800123",
		Fix:        "give the service token Job Viewer on the project, then run harvester replay",
		FailedAt:   exampleTime(),
	}
}

// example is one event of a type, built as the producers build it.
type example struct {
	name string
	typ  string
	gen  int // the harvest generation of an asset event, or of a replayed run event
	data any // an events data type, or a webhook body as json.RawMessage
}

func fullExamples(t *testing.T) []example {
	return []example{
		{"artifacts fetched", events.TypeArtifactsFetched, 2, fullArtifactsFetched()},
		{"asset harvested", events.TypeAssetHarvested, 2, fullAsset()},
		{"harvest completed", events.TypeHarvestCompleted, 2, fullHarvestCompleted()},
		{"harvest failed", events.TypeHarvestFailed, 2, fullHarvestFailed()},
		{"run started", events.TypeRunStarted, 1, json.RawMessage(webhookBody(t, "job.run.started"))},
		{"run completed", events.TypeRunCompleted, 1, json.RawMessage(webhookBody(t, "job.run.completed"))},
		{"run errored", events.TypeRunErrored, 1, json.RawMessage(webhookBody(t, "job.run.errored"))},
		{"run completed, replayed", events.TypeRunCompleted, 3, json.RawMessage(webhookBody(t, "job.run.completed"))},
	}
}

// minimalExamples leave every optional field zero: omitted members, and null
// for the slices and maps that are never omitted, must still be valid.
func minimalExamples() []example {
	facts := events.RunFacts{RunRef: exampleRef()}
	return []example{
		{"artifacts fetched", events.TypeArtifactsFetched, 1, events.ArtifactsFetched{Run: facts, Generation: 1, FetchedAt: exampleTime()}},
		{"asset harvested", events.TypeAssetHarvested, 1, events.Asset{
			AssetID: "1/2/3/source.jaffle_shop.raw.orders", RunRef: exampleRef(), UniqueID: "source.jaffle_shop.raw.orders",
			ResourceType: "source", Name: "orders",
		}},
		{"harvest completed", events.TypeHarvestCompleted, 1, events.HarvestCompleted{
			Run: facts, Generation: 1, StartedAt: exampleTime(), CompletedAt: exampleTime(),
		}},
		{"harvest failed", events.TypeHarvestFailed, 1, events.HarvestFailed{
			Run: events.RunFacts{RunRef: events.RunRef{AccountID: 1, RunID: 2}}, Generation: 1, Stage: "normalize", Reason: "manifest.json is not JSON", FailedAt: exampleTime(),
		}},
	}
}

// webhookBody is a dbt Cloud run webhook with 14-digit IDs, as in dbt-cloud.md §1.8.
func webhookBody(t *testing.T, eventType string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"accountId":   exampleRef().AccountID,
		"webhookId":   "wsu_2uYx3Qk9mN1pLr7TzVb4CdE8fGh",
		"eventId":     "wev_2uZ0aB9cD8eF7gH6iJ5kL4mN3oP",
		"timestamp":   "2026-03-02T06:14:51.11840223Z",
		"eventType":   eventType,
		"webhookName": "metadata-harvester",
		"data": map[string]any{
			"jobId":            "70403103936332",
			"jobName":          "Nightly production build",
			"runId":            "70403118800123",
			"environmentId":    "70403103931988",
			"environmentName":  "Production",
			"dbtVersion":       "1.10.6",
			"projectName":      "analytics",
			"projectId":        "70403103926818",
			"runStatus":        "Success",
			"runStatusCode":    10,
			"runStatusMessage": "None",
			"runReason":        "Kicked off by the scheduler",
			"runStartedAt":     "2026-03-02T06:00:05Z",
			"runFinishedAt":    "2026-03-02T06:14:40Z",
		},
	})
	if err != nil {
		t.Fatalf("encode webhook body: %v", err)
	}
	return b
}

// encode builds ex with the events constructor of its type and encodes it
// with events.Encode.
func encode(t *testing.T, ex example) []byte {
	t.Helper()
	var m events.Message
	var err error
	switch d := ex.data.(type) {
	case events.ArtifactsFetched:
		m, err = events.NewArtifactsFetched(d, events.Trace{})
	case events.Asset:
		m, err = events.NewAssetHarvested(d, ex.gen, exampleTime(), events.Trace{})
	case events.HarvestCompleted:
		m, err = events.NewHarvestCompleted(d, events.Trace{})
	case events.HarvestFailed:
		m, err = events.NewHarvestFailed(d, events.Trace{})
	case json.RawMessage:
		w, perr := events.ParseRunWebhook(d)
		if perr != nil {
			t.Fatalf("ParseRunWebhook: %v", perr)
		}
		m, err = events.NewRunEvent(w, d, w.Timestamp, ex.gen, events.Trace{})
	default:
		t.Fatalf("example %s: no constructor for %T", ex.name, ex.data)
	}
	if err != nil {
		t.Fatalf("build %s event: %v", ex.typ, err)
	}
	if got := m.Event.Type(); got != ex.typ {
		t.Fatalf("example %s: built a %s event, want %s", ex.name, got, ex.typ)
	}
	b, err := events.Encode(m.Event)
	if err != nil {
		t.Fatalf("events.Encode(%s): %v", ex.typ, err)
	}
	return b
}
