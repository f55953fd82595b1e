package artifact

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/retry"
	"github.com/go-json-experiment/json/jsontext"
)

// fuzzSeeds are small documents of every artifact shape, valid and not.
func fuzzSeeds(f *testing.F) {
	for _, s := range seedDocs {
		f.Add([]byte(s))
	}
}

var seedDocs = []string{
	`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {"model.p.a": {"name": "a", "columns": {"x": {"data_type": "int"}}, "depends_on": {"nodes": ["source.p.s.t"]}}}, "sources": {"source.p.s.t": {"name": "t"}}, "child_map": {"source.p.s.t": ["model.p.a"]}}`,
	`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v1.json"}, "nodes": {"test.p.t": {"raw_sql": "x", "test_metadata": {"name": "unique", "kwargs": {"column_name": "id"}}, "tags": "a"}}, "macros": {"m": {}}}`,
	`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}, "results": [{"unique_id": "a", "status": "success", "timing": [{"name": "compile", "started_at": "2024-01-01T00:00:00Z"}], "adapter_response": {"rows_affected": 1}}]}`,
	`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json"}, "nodes": {"a": {"metadata": {"type": "VIEW"}, "columns": {"X": {"type": "int", "index": 1}}, "stats": {"has_stats": {"value": false}}}}}`,
	`{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json"}, "results": [{"unique_id": "s", "max_loaded_at": "2024-01-01 00:00:00", "max_loaded_at_time_ago_in_s": "12"}]}`,
	`{"nodes": {"m": {"tags": "one", "version": 3, "config": {"materialized": 7}, "columns": {"Z": {"name": null}, "A": {"name": "A", "data_type": [1, 2]}}}}, "results": [{"unique_id": 4, "execution_time": " 1.5 ", "failures": null, "message": {"a": "b"}}]}`,
	`{"nodes": [], "results": {}, "metadata": null}`,
	`{"nodes": {"a": {"columns": {"x": 1}, "config": [], "version": {"v": [1]}}}}`,
	`[]`, `{`, `{"a":1}{}`, `"x"`, `null`, ``, `{"nodes": {"a": "\ud800"}}`,
}

// checkErr fails unless err is nil or permanent (callbacks return nil here).
func checkErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !retry.IsPermanent(err) {
		t.Fatalf("error %v is not permanent", err)
	}
}

var readKinds = []Kind{KindManifest, KindRunResults, KindCatalog, KindSources}

// FuzzRead reads arbitrary documents as every kind of artifact the way
// production does (streamRead: Stream, ParseMetadata and the raw readers),
// and with Sniff and ReadSemanticManifest: they must never panic and fail
// only with permanent errors. A strictly valid document (no duplicate
// names, valid UTF-8) that the typed oracle reads without warnings must be
// read the same by both.
func FuzzRead(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, kind := range readKinds {
			got, err := streamRead(bytes.NewReader(doc), kind)
			checkErr(t, err)
			if !jsontext.Value(doc).IsValid() {
				continue
			}
			want, werr := oracleRead(context.Background(), bytes.NewReader(doc), kind)
			if (err == nil) != (werr == nil) {
				t.Fatalf("%s: stream read error %v, oracle %v", kind, err, werr)
			}
			if err != nil || want.warnings > 0 {
				continue
			}
			if g, w := fmt.Sprint(got.meta, got.version, got.entries), fmt.Sprint(want.meta, want.version, want.entries); g != w {
				t.Fatalf("%s:\nstream %s\noracle %s", kind, g, w)
			}
		}
		_, err := ReadSemanticManifest(context.Background(), bytes.NewReader(doc))
		checkErr(t, err)
		_, err = Sniff(bytes.NewReader(doc))
		checkErr(t, err)
	})
}

// TestStreamMatchesOracle reads the fuzz seeds, which use the leniencies
// dbt needs (a tag as a string, numbers as strings, null names), with the
// streaming reader and the typed oracle.
func TestStreamMatchesOracle(t *testing.T) {
	compared := 0
	for _, doc := range seedDocs {
		for _, kind := range readKinds {
			got, err := streamRead(bytes.NewReader([]byte(doc)), kind)
			want, werr := oracleRead(t.Context(), bytes.NewReader([]byte(doc)), kind)
			if err != nil || werr != nil || want.warnings > 0 {
				continue
			}
			compared++
			if g, w := fmt.Sprint(got.meta, got.version, got.entries), fmt.Sprint(want.meta, want.version, want.entries); g != w {
				t.Errorf("%s %s:\nstream %s\noracle %s", kind, doc, g, w)
			}
		}
	}
	if compared < 10 {
		t.Errorf("compared %d reads, want the seeds' reads", compared)
	}
}
