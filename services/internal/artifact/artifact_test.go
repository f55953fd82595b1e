package artifact

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/retry"
)

func TestResolveVersion(t *testing.T) {
	tests := []struct {
		kind      Kind
		url       string
		read      int
		warn, err bool
	}{
		{KindManifest, "https://schemas.getdbt.com/dbt/manifest/v12.json", 12, false, false},
		{KindManifest, "https://schemas.getdbt.com/dbt/manifest/v1.json", 1, false, false},
		{KindManifest, "https://schemas.getdbt.com/dbt/manifest/v20.json", 20, false, false},
		{KindManifest, "https://schemas.getdbt.com/dbt/manifest/v13.json", 12, true, false},
		{KindManifest, "https://schemas.getdbt.com/dbt/manifest/v21.json", 20, true, false},
		{KindManifest, "", 20, true, false},
		{KindManifest, "not a url", 20, true, false},
		{KindManifest, "https://schemas.getdbt.com/dbt/run-results/v6.json", 0, false, true},
		{KindRunResults, "https://schemas.getdbt.com/dbt/run-results/v7.json", 6, true, false},
		{KindCatalog, "https://schemas.getdbt.com/dbt/catalog/v2.json", 1, true, false},
		{KindSources, "https://schemas.getdbt.com/dbt/sources/v3.json", 3, false, false},
	}
	for _, tt := range tests {
		v, err := resolveVersion(tt.kind, tt.url)
		if (err != nil) != tt.err || v.Read != tt.read || (v.Warning != "") != tt.warn {
			t.Errorf("resolveVersion(%s, %q) = %+v, %v; want read v%d, warning %t, error %t", tt.kind, tt.url, v, err, tt.read, tt.warn, tt.err)
		}
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name, doc, offset string
	}{
		{"not JSON", "<html>", "byte 0"},
		{"array", "[]", "byte 0"},
		{"truncated", `{"metadata": {}, "nodes": {"a": {"name": "x"`, "manifest.json"},
		{"bad token", `{"nodes": {"a": {"name": x}}}`, "byte 25"},
		{"trailing", `{} {}`, "manifest.json"},
		{"empty", ``, "byte 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadManifest(t.Context(), strings.NewReader(tt.doc), ManifestOptions{}, ManifestHandler{})
			if !retry.IsPermanent(err) {
				t.Fatalf("ReadManifest(%q) = %v, want a permanent error", tt.doc, err)
			}
			if !strings.Contains(err.Error(), tt.offset) || !strings.Contains(err.Error(), "manifest.json") {
				t.Errorf("ReadManifest(%q) = %q, want it to name manifest.json and %q", tt.doc, err, tt.offset)
			}
		})
	}
}

func TestTolerant(t *testing.T) {
	doc := `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v5.json"},
	 "macros": {"m": {"macro_sql": "x"}},
	 "nodes": {
	  "model.p.a": {"name": "a", "tags": "one", "version": 3, "meta": [], "raw_sql": "select 1", "raw_code": "no",
	     "new_field": {"deep": [1, 2]}, "config": {"materialized": 7}},
	  "model.p.b": {"name": "b", "description": "before", "contract": {"enforced": "yes"}, "alias": "lost"},
	  "model.p.c": {"name": "c", "columns": {"Z": {"description": "z"}, "A": {"name": "A"}}}
	 },
	 "sources": null, "exposures": [], "child_map": {"model.p.a": ["model.p.b"]}}`
	got := map[string]*Resource{}
	var children []string
	info, err := ReadManifest(t.Context(), strings.NewReader(doc), ManifestOptions{IncludeCode: true}, ManifestHandler{
		Resource: func(_, key string, r *Resource) error { got[key] = r; return nil },
		ChildMap: func(id string, ids []string) error { children = append(children, ids...); return nil },
	})
	if err != nil {
		t.Fatalf("ReadManifest: %v", err)
	}
	a, b, c := got["model.p.a"], got["model.p.b"], got["model.p.c"]
	tests := []struct {
		field     string
		got, want any
	}{
		{"a.tags", strings.Join(a.Tags, ","), "one"},
		{"a.version", string(a.Version), "3"},
		{"a.materialized", string(a.Config.Materialized), "7"},
		{"a.raw code (v5 reads raw_sql)", a.RawCode, "select 1"},
		{"b.name", string(b.Name), "b"},
		{"b.description", string(b.Description), "before"},
		{"c.columns", len(c.Columns), 2},
		{"c.column order", string(c.Columns[0].Name) + string(c.Columns[1].Name), "ZA"},
		{"children", strings.Join(children, ","), "model.p.b"},
		{"version", info.Version.Read, 5},
		{"entries", info.Entries["nodes"], 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("ReadManifest: %s = %#v, want %#v", tt.field, tt.got, tt.want)
		}
	}
	if len(info.Warnings) != 2 {
		t.Errorf("warnings = %q, want one for b's contract and one for exposures", info.Warnings)
	}
}

func TestCallbackErrorPassesThrough(t *testing.T) {
	boom := errors.New("boom")
	_, err := ReadRunResults(t.Context(), strings.NewReader(`{"results": [{"unique_id": "x"}]}`),
		func(*RunResult) error { return boom })
	if err != boom {
		t.Errorf("ReadRunResults = %v, want the callback's error unchanged", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = ReadRunResults(ctx, strings.NewReader(`{"results": [{"unique_id": "x"}]}`), func(*RunResult) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ReadRunResults(cancelled) = %v, want context.Canceled", err)
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		doc  string
		want Kind
	}{
		{`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json"}, "nodes": {}}`, KindCatalog},
		{`{"semantic_models": [], "project_configuration": {}}`, KindSemanticManifest},
		{`{"a": 1}`, ""},
	}
	for _, tt := range tests {
		if got, err := Sniff(strings.NewReader(tt.doc)); got != tt.want || err != nil {
			t.Errorf("Sniff(%q) = %q, %v; want %q", tt.doc, got, err, tt.want)
		}
	}
	if _, err := Sniff(strings.NewReader("[")); !retry.IsPermanent(err) {
		t.Errorf("Sniff([) = %v, want a permanent error", err)
	}
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456", "2024-01-02 03:04:05", "2024-01-02T03:04:05+00:00"} {
		if got, ok := ParseTime(s); !ok || got.Hour() != 3 {
			t.Errorf("ParseTime(%q) = %v, %t", s, got, ok)
		}
	}
	if _, ok := ParseTime("yesterday"); ok {
		t.Error("ParseTime(yesterday) ok, want not")
	}
}
