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
		{"truncated", `{"metadata": {}, "nodes": {"a": {"name": "x"`, "byte 44"},
		{"bad separator", `{"nodes": {"a": {"name": "x"} "b": {}}}`, "byte 30"},
		{"trailing", `{} {}`, "byte 3"},
		{"empty", ``, "byte 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := streamRead(strings.NewReader(tt.doc), KindManifest)
			if !retry.IsPermanent(err) {
				t.Fatalf("streamRead(%q) = %v, want a permanent error", tt.doc, err)
			}
			if !strings.Contains(err.Error(), tt.offset) || !strings.Contains(err.Error(), "manifest.json") {
				t.Errorf("streamRead(%q) = %q, want it to name manifest.json and %q", tt.doc, err, tt.offset)
			}
		})
	}
}

func TestTolerant(t *testing.T) {
	doc := `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v5.json", "env": {"A": 1}},
	 "macros": {"m": {"macro_sql": "x"}},
	 "nodes": {
	  "model.p.a": {"name": "a", "tags": "one", "version": 3, "meta": [], "new_field": {"deep": [1, 2]}, "config": {"materialized": 7}},
	  "model.p.b": {"name": "b", "depends_on": {"nodes": null}, "contract": {"enforced": "yes"}},
	  "model.p.c": {"name": "c", "columns": {"Z": {"description": "z"}, "A": {"name": "A", "data_type": 5}}}
	 },
	 "sources": null, "exposures": [], "child_map": {"model.p.a": ["model.p.b"]}}`
	got, err := streamRead(strings.NewReader(doc), KindManifest)
	if err != nil {
		t.Fatalf("streamRead: %v", err)
	}
	want := []string{
		`nodes model.p.a id= type= name=a mat=7 tags=["one"] deps=[] cols=[]`,
		`nodes model.p.b id= type= name=b mat= tags=[] deps=[] cols=[]`,
		`nodes model.p.c id= type= name=c mat= tags=[] deps=[] cols=["Z:" "A:5"]`,
	}
	if strings.Join(got.entries, "\n") != strings.Join(want, "\n") {
		t.Errorf("streamRead entries:\n%s\nwant\n%s", strings.Join(got.entries, "\n"), strings.Join(want, "\n"))
	}
	if got.version.Read != 5 || got.meta.Env["A"] != "1" {
		t.Errorf("streamRead: version %+v, env %v; want v5, A=1", got.version, got.meta.Env)
	}
}

func TestErrorsPassThrough(t *testing.T) {
	boom := errors.New("boom")
	s := NewStream(strings.NewReader(`{"results": [{"unique_id": "x"}]}`), KindRunResults)
	err := s.Walk(func(string) error {
		_, err := s.ElementsFunc(func() error {
			_, err := s.Object(func(k, v []byte) error { return boom })
			return err
		})
		return err
	})
	if err != boom {
		t.Errorf("Walk = %v, want the callback's error unchanged", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = ReadSemanticManifest(ctx, strings.NewReader(`{"metrics": [{}]}`))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ReadSemanticManifest(cancelled) = %v, want context.Canceled", err)
	}
}

func TestReadSemanticManifest(t *testing.T) {
	info, err := ReadSemanticManifest(t.Context(), strings.NewReader(
		`{"semantic_models": [{"name": "a"}, {"name": "b"}], "metrics": null, "saved_queries": {}, "project_configuration": {}}`))
	if err != nil || info.Entries["semantic_models"] != 2 || info.Entries["metrics"] != 0 || len(info.Warnings) != 1 {
		t.Errorf("ReadSemanticManifest = %+v, %v; want 2 semantic models and a warning for saved_queries", info, err)
	}
	if _, err := ReadSemanticManifest(t.Context(), strings.NewReader(`{"metrics": [}`)); !retry.IsPermanent(err) {
		t.Errorf("ReadSemanticManifest(malformed) = %v, want a permanent error", err)
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
