package artifact

import (
	"context"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// fuzzSeeds are small documents of every artifact shape, valid and not.
func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {"model.p.a": {"name": "a", "columns": {"x": {"data_type": "int"}}, "depends_on": {"nodes": ["source.p.s.t"]}}}, "sources": {"source.p.s.t": {"name": "t"}}, "child_map": {"source.p.s.t": ["model.p.a"]}}`,
		`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v1.json"}, "nodes": {"test.p.t": {"raw_sql": "x", "test_metadata": {"name": "unique", "kwargs": {"column_name": "id"}}, "tags": "a"}}, "macros": {"m": {}}}`,
		`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}, "results": [{"unique_id": "a", "status": "success", "timing": [{"name": "compile", "started_at": "2024-01-01T00:00:00Z"}], "adapter_response": {"rows_affected": 1}}]}`,
		`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json"}, "nodes": {"a": {"metadata": {"type": "VIEW"}, "columns": {"X": {"type": "int", "index": 1}}, "stats": {"has_stats": {"value": false}}}}}`,
		`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json"}, "results": [{"unique_id": "s", "max_loaded_at": "2024-01-01 00:00:00", "max_loaded_at_time_ago_in_s": "12"}]}`,
		`{"nodes": [], "results": {}, "metadata": null}`,
		`{"nodes": {"a": {"columns": {"x": 1}, "config": [], "version": {"v": [1]}}}}`,
		`[]`, `{`, `{"a":1}{}`, `"x"`, `null`, ``, `{"nodes": {"a": "\ud800"}}`,
	} {
		f.Add([]byte(s))
	}
}

// checkErr fails unless err is nil or permanent (callbacks return nil here).
func checkErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !retry.IsPermanent(err) {
		t.Fatalf("error %v is not permanent", err)
	}
}

func FuzzManifest(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, code := range []bool{false, true} {
			_, err := ReadManifest(context.Background(), strings.NewReader(string(doc)), ManifestOptions{IncludeCode: code}, ManifestHandler{
				Metadata:  func(Metadata, Version) error { return nil },
				Resource:  func(string, string, *Resource) error { return nil },
				Group:     func(string, *Group) error { return nil },
				ParentMap: func(string, []string) error { return nil },
				ChildMap:  func(string, []string) error { return nil },
			})
			checkErr(t, err)
		}
	})
}

func FuzzRunResults(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, err := ReadRunResults(context.Background(), strings.NewReader(string(doc)), func(*RunResult) error { return nil })
		checkErr(t, err)
	})
}

func FuzzCatalog(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, err := ReadCatalog(context.Background(), strings.NewReader(string(doc)), func(string, string, *CatalogTable) error { return nil })
		checkErr(t, err)
	})
}

func FuzzSources(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, err := ReadSources(context.Background(), strings.NewReader(string(doc)), func(*FreshnessResult) error { return nil })
		checkErr(t, err)
		_, err = ReadSemanticManifest(context.Background(), strings.NewReader(string(doc)))
		checkErr(t, err)
		_, err = Sniff(strings.NewReader(string(doc)))
		checkErr(t, err)
	})
}
