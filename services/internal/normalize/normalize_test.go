package normalize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// smallManifest is a v12 manifest with one of most things, and fields in
// the shapes older versions use (tags as a string, version as a number).
const smallManifest = `{
 "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "adapter_type": "postgres", "invocation_id": "m-1"},
 "nodes": {
  "model.p.orders": {"resource_type": "model", "name": "orders", "package_name": "p", "path": "orders.sql",
   "original_file_path": "models/orders.sql", "fqn": ["p", "orders"], "database": "db", "schema": "main", "alias": "orders_v2",
   "config": {"materialized": "table", "meta": {"tier": "gold"}, "tags": "nightly", "contract": {"enforced": true}},
   "meta": {"owner": "ann", "tier": "silver"}, "tags": ["finance"], "description": "Orders.", "group": "sales",
   "access": "public", "version": 2, "latest_version": "2", "checksum": {"name": "sha256", "checksum": "abc"},
   "raw_code": "select 1", "compiled_code": "select 1 as x", "language": "sql",
   "columns": {"ID": {"name": "ID", "description": "key", "data_type": "int", "tags": ["pk"]},
               "note": {"name": "note", "description": "yaml only", "meta": {"pii": true}}},
   "depends_on": {"macros": ["macro.dbt.x"], "nodes": ["source.p.raw.orders"]}},
  "model.p.eph": {"resource_type": "model", "name": "eph", "package_name": "p", "database": "db", "schema": "main",
   "alias": "eph", "config": {"materialized": "ephemeral"}, "depends_on": {"nodes": ["model.p.orders"]}, "group": "sales"},
  "test.p.not_null_orders_id.1": {"resource_type": "test", "name": "not_null_orders_id", "package_name": "p",
   "test_metadata": {"name": "not_null", "kwargs": {"column_name": "id", "model": "{{ get_where_subquery(ref('orders')) }}"}},
   "column_name": "id", "config": {"severity": "WARN", "warn_if": "!= 0", "error_if": "> 10", "materialized": "test"},
   "depends_on": {"nodes": ["model.p.orders"]}},
  "operation.p.p-on-run-end-0": {"resource_type": "operation", "name": "p-on-run-end-0", "package_name": "p"}
 },
 "sources": {
  "source.p.raw.orders": {"resource_type": "source", "name": "orders", "source_name": "raw", "package_name": "p",
   "database": "db", "schema": "raw", "identifier": "orders_tbl", "loader": "fivetran", "loaded_at_field": "_loaded",
   "freshness": {"warn_after": {"count": 1, "period": "day"}}, "columns": {}}
 },
 "macros": {"macro.dbt.x": {"name": "x", "macro_sql": "{% macro x() %}{% endmacro %}"}},
 "docs": {"doc.p.d": {"block_contents": "big"}},
 "exposures": {
  "exposure.p.dash": {"resource_type": "exposure", "name": "dash", "package_name": "p", "type": "dashboard", "maturity": "high",
   "url": "https://bi/1", "owner": {"name": "Bo", "email": "bo@x"}, "label": "Dash", "depends_on": {"nodes": ["model.p.orders"]}}
 },
 "metrics": {"metric.p.revenue": {"name": "revenue", "package_name": "p", "type": "simple", "label": "Revenue",
   "depends_on": {"nodes": ["semantic_model.p.orders"]}}},
 "groups": {"group.p.sales": {"name": "sales", "owner": {"email": "sales@x"}}},
 "disabled": {"model.p.off": [{"name": "off", "raw_code": "select 2"}]},
 "semantic_models": {"semantic_model.p.orders": {"name": "orders", "package_name": "p",
   "node_relation": {"alias": "orders_v2", "schema_name": "main", "database": "db", "relation_name": "\"db\".\"main\".\"orders_v2\""},
   "depends_on": {"nodes": ["model.p.orders"]}}},
 "unit_tests": {"unit_test.p.orders.t1": {"name": "t1", "model": "orders", "package_name": "p", "depends_on": {"nodes": ["model.p.orders"]}}}
}`

const smallCatalog = `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json"},
 "nodes": {"model.p.orders": {"metadata": {"type": "BASE TABLE", "comment": "tbl", "owner": "pg"},
   "columns": {"AMOUNT": {"name": "AMOUNT", "type": "numeric", "index": 2}, "id": {"name": "id", "type": "integer", "index": 1, "comment": "pk col"}},
   "stats": {"has_stats": {"id": "has_stats", "value": true}, "rows": {"id": "rows", "value": 42}}}},
 "sources": {}, "errors": null}`

const smallRunResults = `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json", "invocation_id": "inv-1"},
 "results": [
  {"unique_id": "model.p.orders", "status": "success", "execution_time": 1.5, "thread_id": "T1", "message": "SELECT 7",
   "adapter_response": {"rows_affected": 7, "code": "SELECT"}, "failures": null,
   "timing": [{"name": "compile", "started_at": "2024-01-01T00:00:00Z", "completed_at": "2024-01-01T00:00:01Z"},
              {"name": "execute", "started_at": "2024-01-01T00:00:01.5", "completed_at": "2024-01-01 00:00:02"}]},
  {"unique_id": "test.p.not_null_orders_id.1", "status": "warn", "failures": 3, "execution_time": 0.1, "timing": []},
  {"unique_id": "unit_test.p.orders.t1", "status": "pass", "timing": []}
 ], "elapsed_time": 2}`

const smallSources = `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json", "invocation_id": "fr-1"},
 "results": [{"unique_id": "source.p.raw.orders", "status": "warn", "max_loaded_at": "2024-01-01T00:00:00+00:00",
   "snapshotted_at": "2024-01-02T00:00:00+00:00", "max_loaded_at_time_ago_in_s": 86400, "timing": [], "execution_time": 0.2}]}`

func normalizeSmall(t *testing.T, opts Options) (map[string]events.Asset, []string, Summary) {
	t.Helper()
	in := Input{
		Manifest:   strings.NewReader(smallManifest),
		Catalog:    strings.NewReader(smallCatalog),
		RunResults: strings.NewReader(smallRunResults),
		Sources:    strings.NewReader(smallSources),
	}
	got := map[string]events.Asset{}
	var order []string
	sum, err := Normalize(t.Context(), in, opts, func(a events.Asset) error {
		got[a.UniqueID] = a
		order = append(order, a.UniqueID)
		return nil
	})
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return got, order, sum
}

func TestNormalizeSmall(t *testing.T) {
	ref := events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 5}
	got, order, sum := normalizeSmall(t, Options{Ref: ref})
	wantOrder := []string{"model.p.orders", "model.p.eph", "test.p.not_null_orders_id.1", "operation.p.p-on-run-end-0",
		"source.p.raw.orders", "exposure.p.dash", "metric.p.revenue", "semantic_model.p.orders", "unit_test.p.orders.t1"}
	if !slices.Equal(order, wantOrder) {
		t.Fatalf("emit order = %v, want %v", order, wantOrder)
	}
	if sum.Assets != 9 || sum.Counts["model"] != 2 || sum.Counts["operation"] != 1 {
		t.Errorf("summary = %+v, want 9 assets, 2 models, 1 operation", sum)
	}
	if sum.Tests != (events.TestOutcomes{Pass: 1, Warn: 1}) {
		t.Errorf("test outcomes = %+v, want 1 pass 1 warn", sum.Tests)
	}
	orders := got["model.p.orders"]
	tests := []struct {
		field     string
		got, want any
	}{
		{"asset_id", orders.AssetID, "1/2/3/model.p.orders"},
		{"run_id", orders.RunID, int64(5)},
		{"identifier", orders.Identifier, "orders_v2"},
		{"relation_name", orders.RelationName, `"db"."main"."orders_v2"`},
		{"materialization", orders.Materialization, "table"},
		{"tags", strings.Join(orders.Tags, ","), "finance,nightly"},
		{"meta.tier", orders.Meta["tier"], "gold"},
		{"owner", orders.Owner, "ann"},
		{"group", orders.Group, "sales"},
		{"version", orders.Version, "2"},
		{"contract", orders.ContractEnforced, true},
		{"checksum", orders.Checksum, "abc"},
		{"code omitted", orders.RawCode + orders.CompiledCode, ""},
		{"table_type", orders.TableType, "BASE TABLE"},
		{"table_comment", orders.TableComment, "tbl"},
		{"stats", len(orders.Stats), 1},
		{"depends_on", strings.Join(orders.DependsOn, ","), "source.p.raw.orders"},
		{"downstream", strings.Join(orders.Downstream, ","), "exposure.p.dash,model.p.eph,semantic_model.p.orders,test.p.not_null_orders_id.1,unit_test.p.orders.t1"},
		{"tests", strings.Join(orders.Tests, ","), "test.p.not_null_orders_id.1,unit_test.p.orders.t1"},
		{"result status", orders.Result.Status, "success"},
		{"rows_affected", *orders.Result.RowsAffected, int64(7)},
		{"invocation", orders.Result.InvocationID, "inv-1"},
		{"execute done", orders.Result.ExecuteDone.Format("15:04:05"), "00:00:02"},
		{"eph relation", got["model.p.eph"].RelationName, ""},
		{"eph owner from group", got["model.p.eph"].Owner, "sales@x"},
		{"test attached", got["test.p.not_null_orders_id.1"].Test.AttachedNode, "model.p.orders"},
		{"test severity", got["test.p.not_null_orders_id.1"].Test.Severity, "WARN"},
		{"test failures", *got["test.p.not_null_orders_id.1"].Result.Failures, int64(3)},
		{"unit test attached", got["unit_test.p.orders.t1"].Test.AttachedNode, "model.p.orders"},
		{"source identifier", got["source.p.raw.orders"].Identifier, "orders_tbl"},
		{"source relation built", got["source.p.raw.orders"].RelationName, `"db"."raw"."orders_tbl"`},
		{"source loader", got["source.p.raw.orders"].Source.Loader, "fivetran"},
		{"freshness status", got["source.p.raw.orders"].Result.Status, "warn"},
		{"freshness age", *got["source.p.raw.orders"].Result.AgeSeconds, 86400.0},
		{"exposure owner", got["exposure.p.dash"].Exposure.OwnerEmail, "bo@x"},
		{"exposure label", got["exposure.p.dash"].Label, "Dash"},
		{"metric type", got["metric.p.revenue"].MetricType, "simple"},
		{"semantic relation", got["semantic_model.p.orders"].Identifier, "orders_v2"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("Normalize: %s = %#v, want %#v", tt.field, tt.got, tt.want)
		}
	}
	withCode, _, _ := normalizeSmall(t, Options{IncludeCode: true})
	if a := withCode["model.p.orders"]; a.RawCode != "select 1" || a.CompiledCode != "select 1 as x" {
		t.Errorf("IncludeCode: code = %q, %q", a.RawCode, a.CompiledCode)
	}
}

// TestSourceTestWithNullAttachedNode: a test of a source has attached_node
// null (dbt 1.10); its target is the source its model kwarg names, not its
// first dependency.
func TestSourceTestWithNullAttachedNode(t *testing.T) {
	manifest := `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
	 "nodes": {"test.p.rel": {"resource_type": "test", "attached_node": null, "column_name": "customer_id",
	   "depends_on": {"nodes": ["source.p.raw.customers", "source.p.raw.orders"]},
	   "test_metadata": {"name": "relationships", "kwargs": {"column_name": "customer_id", "to": "source('raw', 'customers')",
	     "model": "{{ get_where_subquery(source('raw', 'orders')) }}"}}}},
	 "sources": {"source.p.raw.orders": {"resource_type": "source", "columns": {"customer_id": {"name": "customer_id"}}},
	   "source.p.raw.customers": {"resource_type": "source"}}}`
	got := map[string]events.Asset{}
	if _, err := Normalize(t.Context(), Input{Manifest: strings.NewReader(manifest)}, Options{}, func(a events.Asset) error {
		got[a.UniqueID] = a
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if test := got["test.p.rel"].Test; test == nil || test.AttachedNode != "source.p.raw.orders" {
		t.Errorf("test = %+v, want attached to source.p.raw.orders", test)
	}
	orders := got["source.p.raw.orders"]
	if !slices.Equal(orders.Tests, []string{"test.p.rel"}) || len(orders.Columns) != 1 || !slices.Equal(orders.Columns[0].Tests, []string{"test.p.rel"}) {
		t.Errorf("orders tests = %v, columns %+v; want test.p.rel on the source and its customer_id", orders.Tests, orders.Columns)
	}
	if tests := got["source.p.raw.customers"].Tests; len(tests) != 0 {
		t.Errorf("customers tests = %v, want none", tests)
	}
}

// TestNormalizeLaterStepWins: a node run in two command steps has the later
// step's result, and the summary counts it once.
func TestNormalizeLaterStepWins(t *testing.T) {
	retest := `{"metadata": {"invocation_id": "inv-2"}, "results": [
	  {"unique_id": "test.p.not_null_orders_id.1", "status": "pass", "failures": 0, "timing": []}]}`
	in := Input{
		Manifest:       strings.NewReader(smallManifest),
		RunResults:     strings.NewReader(smallRunResults),
		MoreRunResults: []io.Reader{strings.NewReader(retest)},
		Sources:        strings.NewReader(smallSources),
	}
	var test events.Asset
	sum, err := Normalize(t.Context(), in, Options{}, func(a events.Asset) error {
		if a.UniqueID == "test.p.not_null_orders_id.1" {
			test = a
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if test.Result == nil || test.Result.Status != "pass" || test.Result.InvocationID != "inv-2" {
		t.Errorf("test result = %+v, want the second step's pass", test.Result)
	}
	// success: the model; pass: the test (once) and the unit test; warn: the source's freshness.
	if want := map[string]int{"success": 1, "pass": 2, "warn": 1}; !maps.Equal(sum.ResultStatuses, want) {
		t.Errorf("ResultStatuses = %v, want %v", sum.ResultStatuses, want)
	}
	if want := (events.TestOutcomes{Pass: 2}); sum.Tests != want {
		t.Errorf("Tests = %+v, want %+v", sum.Tests, want)
	}
}

func TestMergeColumnsCaseInsensitive(t *testing.T) {
	got, _, _ := normalizeSmall(t, Options{})
	cols := got["model.p.orders"].Columns
	want := []events.Column{
		{Name: "id", DataType: "integer", DataTypeSource: "catalog", Description: "key", Index: 1, Comment: "pk col",
			Tags: []string{"pk"}, Tests: []string{"test.p.not_null_orders_id.1"}, InCatalog: true, InManifest: true},
		{Name: "AMOUNT", DataType: "numeric", DataTypeSource: "catalog", Index: 2, InCatalog: true},
		{Name: "note", Description: "yaml only", Meta: map[string]any{"pii": true}, InManifest: true},
	}
	if len(cols) != len(want) {
		t.Fatalf("columns = %+v, want %d columns", cols, len(want))
	}
	for i := range want {
		g, w := cols[i], want[i]
		if g.Name != w.Name || g.DataType != w.DataType || g.DataTypeSource != w.DataTypeSource || g.Description != w.Description ||
			g.Index != w.Index || g.Comment != w.Comment || g.InCatalog != w.InCatalog || g.InManifest != w.InManifest ||
			!slices.Equal(g.Tags, w.Tags) || !slices.Equal(g.Tests, w.Tests) || len(g.Meta) != len(w.Meta) {
			t.Errorf("column %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestNormalizeMalformed(t *testing.T) {
	good := func() Input { return Input{Manifest: strings.NewReader(smallManifest)} }
	tests := []struct {
		name string
		in   func() Input
	}{
		{"manifest not JSON", func() Input { return Input{Manifest: strings.NewReader("<html>")} }},
		{"manifest is an array", func() Input { return Input{Manifest: strings.NewReader("[1, 2]")} }},
		{"manifest truncated", func() Input { return Input{Manifest: strings.NewReader(smallManifest[:200])} }},
		{"manifest is run results", func() Input { return Input{Manifest: strings.NewReader(smallRunResults)} }},
		{"no manifest", func() Input { return Input{} }},
		{"catalog truncated", func() Input { in := good(); in.Catalog = strings.NewReader(smallCatalog[:50]); return in }},
		{"run results not JSON", func() Input { in := good(); in.RunResults = strings.NewReader("nope"); return in }},
		{"sources trailing data", func() Input { in := good(); in.Sources = strings.NewReader(smallSources + "{}"); return in }},
		{"a column not an object", func() Input {
			return Input{Manifest: strings.NewReader(`{"nodes": {"model.p.a": {"resource_type": "model", "columns": {"id": {"name" "id"}}}}}`)}
		}},
		{"meta malformed", func() Input {
			return Input{Manifest: strings.NewReader(`{"nodes": {"model.p.a": {"meta": {"a" 1}, "config": {"meta": {"b": 2}}}}}`)}
		}},
		{"tags malformed", func() Input {
			return Input{Manifest: strings.NewReader(`{"nodes": {"model.p.a": {"tags": ["a" "b"]}}}`)}
		}},
		{"config malformed", func() Input {
			return Input{Manifest: strings.NewReader(`{"nodes": {"model.p.a": {"config": {"materialized" "table"}}}}`)}
		}},
		{"manifest changed between the passes", func() Input {
			return Input{Manifest: strings.NewReader(smallManifest), ReopenManifest: reopen("  " + smallManifest)}
		}},
		{"manifest shorter the second time", func() Input {
			return Input{Manifest: strings.NewReader(smallManifest), ReopenManifest: reopen(smallManifest[:len(smallManifest)/2])}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize(t.Context(), tt.in(), Options{}, func(events.Asset) error { return nil })
			if !retry.IsPermanent(err) {
				t.Errorf("Normalize(%s) = %v, want a permanent error", tt.name, err)
			}
		})
	}
}

// reopen is an Input.ReopenManifest that reads doc.
func reopen(doc string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(doc)), nil }
}

// TestNormalizeReopenError: a second reading that fails is the reader's
// error, not a malformed manifest.
func TestNormalizeReopenError(t *testing.T) {
	gone := errors.New("object store unavailable")
	in := Input{Manifest: strings.NewReader(smallManifest), ReopenManifest: func() (io.ReadCloser, error) {
		return io.NopCloser(iotest.ErrReader(gone)), nil
	}}
	_, err := Normalize(t.Context(), in, Options{}, func(events.Asset) error { return nil })
	if !errors.Is(err, gone) || retry.IsPermanent(err) {
		t.Errorf("Normalize with a failing second reading = %v, want %v, not permanent", err, gone)
	}
}

func TestNormalizeEmitError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Normalize(t.Context(), Input{Manifest: strings.NewReader(smallManifest)}, Options{},
		func(events.Asset) error { return boom })
	if !errors.Is(err, boom) || retry.IsPermanent(err) {
		t.Errorf("Normalize with failing emit = %v, want boom, not permanent", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Normalize(ctx, Input{Manifest: strings.NewReader(smallManifest)}, Options{},
		func(events.Asset) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Normalize with cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestRefName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{{ get_where_subquery(ref('orders')) }}", "orders"},
		{`{{ ref("pkg", "orders") }}`, "orders"},
		{"{{ ref('orders', v=2) }}", "orders"},
		{"{{ get_where_subquery(source('raw', 'orders')) }}", "raw.orders"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := refName(tt.in); got != tt.want {
			t.Errorf("refName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFastTime(t *testing.T) {
	for _, s := range []string{"2026-01-15T06:00:02.000000Z", "2024-02-29T23:59:59Z", "2024-01-01T00:00:01.5Z", "2024-01-01T00:00:01.123456789Z"} {
		want, ok := artifact.ParseTime(s)
		got, fok := fastTime([]byte(s))
		if !ok || !fok || got != want.UnixNano() {
			t.Errorf("fastTime(%q) = %d, %v; want %d", s, got, fok, want.UnixNano())
		}
	}
	for _, s := range []string{"2024-01-01 00:00:01", "2024-01-01T00:00:01+02:00", "2024-13-01T00:00:01Z", "2023-02-29T00:00:00Z", "x"} {
		if _, ok := fastTime([]byte(s)); ok {
			t.Errorf("fastTime(%q) ok, want fallback", s)
		}
	}
}

// TestFastTimeEveryDay compares fastTime with the time package on every day
// it reads, at a time of day that varies.
func TestFastTimeEveryDay(t *testing.T) {
	for d := time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2262; d = d.Add(24*time.Hour + 7*time.Second) {
		s := d.Format("2006-01-02T15:04:05.000000Z")
		if got, ok := fastTime([]byte(s)); !ok || got != d.UnixNano() {
			t.Fatalf("fastTime(%q) = %d, %v; want %d", s, got, ok, d.UnixNano())
		}
	}
	for _, s := range []string{"1900-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2023-04-31T00:00:00Z", "1677-12-31T23:59:59Z", "2262-01-01T00:00:00Z"} {
		if _, ok := fastTime([]byte(s)); ok {
			t.Errorf("fastTime(%q) ok, want fallback", s)
		}
	}
}

// FuzzFastTime: whatever fastTime reads, it reads as the time package does.
func FuzzFastTime(f *testing.F) {
	f.Add("2026-01-15T06:00:02.042000Z")
	f.Add("2000-02-29T23:59:59Z")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := fastTime([]byte(s))
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || got != want.UnixNano() {
			t.Fatalf("fastTime(%q) = %d; time.Parse = %d, %v", s, got, want.UnixNano(), err)
		}
	})
}

func TestNormalizeFidelity(t *testing.T) {
	got, _, sum := normalizeSmall(t, Options{})
	orders := got["model.p.orders"]
	if orders.TestResults == nil || orders.TestResults.Warn != 1 || orders.TestResults.Pass != 1 {
		t.Errorf("orders.test_results = %+v, want 1 warn (not_null) and 1 pass (unit test)", orders.TestResults)
	}
	if c := orders.Columns[0]; c.TestResults == nil || c.TestResults.Warn != 1 {
		t.Errorf("orders.columns[id].test_results = %+v, want 1 warn", c.TestResults)
	}
	if sum.Project == nil || sum.Project.AdapterType != "postgres" || sum.Project.SchemaVersion == "" {
		t.Errorf("summary project = %+v, want the manifest's metadata", sum.Project)
	}
	if len(sum.Groups) != 1 || sum.Groups[0].Name != "sales" || sum.Groups[0].OwnerEmail != "sales@x" {
		t.Errorf("summary groups = %+v, want sales owned by sales@x", sum.Groups)
	}

	const manifest = `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "project_id": "abc123"},
	 "nodes": {"model.p.m": {"resource_type": "model", "name": "m", "meta": {"z": 1.0, "a": {"b": [1, "x"]}}, "config": {"meta": {"z": 2}},
	   "constraints": [{"type": "primary_key", "columns": ["id"]}], "deprecation_date": "2027-01-01T00:00:00Z",
	   "columns": {"id": {"name": "id", "constraints": [{"type": "not_null"}]}}},
	  "widget.p.w": {"resource_type": "widget", "name": "w"}},
	 "semantic_models": {"semantic_model.p.s": {"name": "s", "model": "ref('m')", "entities": [{"name": "id", "type": "primary"}],
	   "dimensions": [{"name": "d", "type": "categorical"}], "measures": [{"name": "n", "agg": "count"}]}},
	 "metrics": {"metric.p.x": {"name": "x", "type": "simple", "type_params": {"measure": {"name": "n"}}}},
	 "future_section": {"x": 1}}`
	var assets []Encoded
	sum, err := JSON(t.Context(), Input{Manifest: strings.NewReader(manifest)}, Options{}, func(e Encoded) error {
		e.JSON = append([]byte(nil), e.JSON...)
		assets = append(assets, e)
		return nil
	})
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	byID := map[string]string{}
	for _, e := range assets {
		byID[e.UniqueID] = string(e.JSON)
	}
	for _, want := range []struct{ id, part string }{
		{"model.p.m", `"meta":{"z":2,"a":{"b":[1,"x"]}}`},
		{"model.p.m", `"constraints":[{"type":"primary_key","columns":["id"]}]`},
		{"model.p.m", `"deprecation_date":"2027-01-01T00:00:00Z"`},
		{"model.p.m", `{"name":"id","description":"","constraints":[{"type":"not_null"}],"in_catalog":false,"in_manifest":true}`},
		{"widget.p.w", `"resource_type":"widget"`},
		{"semantic_model.p.s", `"semantic_model":{"model":"ref('m')","entities":[{"name":"id","type":"primary"}],"dimensions":[{"name":"d","type":"categorical"}],"measures":[{"name":"n","agg":"count"}]}`},
		{"metric.p.x", `"metric":{"type_params":{"measure":{"name":"n"}}}`},
	} {
		if !strings.Contains(byID[want.id], want.part) {
			t.Errorf("asset %s = %s\nwant it to contain %s", want.id, byID[want.id], want.part)
		}
	}
	warnings := strings.Join(sum.Warnings, "\n")
	for _, w := range []string{`top-level member "future_section" is not harvested`, `resource_type "widget"`} {
		if !strings.Contains(warnings, w) {
			t.Errorf("warnings = %q, want one saying %s", sum.Warnings, w)
		}
	}
	if sum.Project == nil || sum.Project.ProjectIDHash != "abc123" {
		t.Errorf("project = %+v, want project_id_hash abc123", sum.Project)
	}
}

// TestNormalizeLargeEntries reads entries larger than the reader's buffer,
// in the middle of small ones, so that buffers move while an entry is read.
func TestNormalizeLargeEntries(t *testing.T) {
	big := strings.Repeat("x\\\"y", 50000)
	var b strings.Builder
	b.WriteString(`{"nodes": {`)
	for i := range 40 {
		if i > 0 {
			b.WriteString(",")
		}
		desc := "small"
		if i%7 == 3 {
			desc = big
		}
		fmt.Fprintf(&b, `"model.p.m%d": {"name": "m%d", "description": "%s", "tags": ["t%d"], "meta": {"k": %d}}`, i, i, desc, i, i)
	}
	b.WriteString(`}}`)
	n := 0
	_, err := JSON(t.Context(), Input{Manifest: strings.NewReader(b.String())}, Options{}, func(e Encoded) error {
		a, err := e.Asset()
		if err != nil {
			return err
		}
		want := "small"
		if n%7 == 3 {
			want = strings.ReplaceAll(big, `\"`, `"`)
		}
		if a.UniqueID != fmt.Sprintf("model.p.m%d", n) || a.Description != want || a.Tags[0] != fmt.Sprintf("t%d", n) {
			t.Errorf("asset %d = %s %q... tags %v", n, a.UniqueID, a.Description[:min(20, len(a.Description))], a.Tags)
		}
		n++
		return nil
	})
	if err != nil || n != 40 {
		t.Fatalf("JSON = %v after %d assets, want 40", err, n)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain text of some length, more than eight", `quo"te\back`, "<a href='x'>&amp;</a>",
		"tab\tnew\nline\x01\x1f", "naïve café ☃ \u2028 \u2029 end", "bad \xff\xfe utf8", strings.Repeat("abcdefgh", 9) + "\"", "12345678\x7f"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
		if got, want := plain([]byte(s)), string(want) == `"`+s+`"`; got != want {
			t.Errorf("plain(%q) = %v, want %v", s, got, want)
		}
	}
}
