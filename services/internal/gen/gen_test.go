package gen

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// readJSON decodes dir/name into a generic value.
func readJSON(t *testing.T, dir, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("ReadFile(%s): %v", name, err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s is not JSON: %v", name, err)
	}
	return v
}

// manifestCounts counts the assets of a parsed manifest per resource type.
func manifestCounts(m map[string]any) map[string]int {
	got := map[string]int{}
	for _, sec := range []string{"nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests"} {
		for _, v := range m[sec].(map[string]any) {
			got[v.(map[string]any)["resource_type"].(string)]++
		}
	}
	return got
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"zero options writes manifest only", Options{}},
		{"10 models postgres", DefaultOptions(10)},
		{"20 models snowflake failing", Options{Models: 20, Adapter: "snowflake", Catalog: true, RunResults: true, Sources: true, FailingTests: 3}},
		{"250 models bigquery", Options{Models: 250, Adapter: "bigquery", Seed: 7, Catalog: true, RunResults: true, Sources: true, FailingTests: 5}},
		{"60 models duckdb", Options{Models: 60, Adapter: "duckdb", RunResults: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sum, err := Write(dir, tt.opts)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			checkFiles(t, dir, tt.opts, sum)
			m := readJSON(t, dir, "manifest.json")
			got := manifestCounts(m)
			for k, want := range sum.Counts {
				if got[k] != want {
					t.Errorf("manifest has %d %s, Summary.Counts says %d", got[k], k, want)
				}
			}
			if want := max(tt.opts.Models, 20*boolInt(tt.opts.Models == 0)); sum.Counts["model"] != want {
				t.Errorf("Counts[model] = %d, want %d", sum.Counts["model"], want)
			}
			checkLineage(t, m)
			if tt.opts.Catalog {
				checkCatalog(t, readJSON(t, dir, "catalog.json"), sum, tt.opts.Adapter == "snowflake")
			}
			if tt.opts.RunResults {
				checkRunResults(t, readJSON(t, dir, "run_results.json"), sum, tt.opts.FailingTests)
			}
			if tt.opts.Sources {
				checkSources(t, readJSON(t, dir, "sources.json"), m)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func checkFiles(t *testing.T, dir string, opts Options, sum Summary) {
	t.Helper()
	want := map[string]bool{"manifest.json": true, "catalog.json": opts.Catalog, "run_results.json": opts.RunResults, "sources.json": opts.Sources}
	for name, on := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		switch {
		case on && err != nil:
			t.Errorf("%s missing: %v", name, err)
		case !on && err == nil:
			t.Errorf("%s written but not asked for", name)
		case on && fi.Size() != sum.Files[name]:
			t.Errorf("Files[%s] = %d, file has %d bytes", name, sum.Files[name], fi.Size())
		}
	}
}

// checkLineage verifies that parent_map matches depends_on, that the model
// graph has no cycle, and that derived models have fan-in 1 to 4.
func checkLineage(t *testing.T, m map[string]any) {
	t.Helper()
	pm := m["parent_map"].(map[string]any)
	nodes := m["nodes"].(map[string]any)
	for id, v := range nodes {
		n := v.(map[string]any)
		if _, ok := pm[id]; !ok {
			t.Errorf("parent_map lacks %s", id)
		}
		name := n["name"].(string)
		if n["resource_type"] == "model" && (strings.HasPrefix(name, "int_") || strings.HasPrefix(name, "fct_")) {
			deps := len(n["depends_on"].(map[string]any)["nodes"].([]any))
			if deps < 1 || deps > 4 {
				t.Errorf("%s has %d parents, want 1 to 4", id, deps)
			}
		}
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(id string) bool
	visit = func(id string) bool {
		switch state[id] {
		case 1:
			return false
		case 2:
			return true
		}
		state[id] = 1
		for _, p := range pm[id].([]any) {
			if !visit(p.(string)) {
				return false
			}
		}
		state[id] = 2
		return true
	}
	for id := range pm {
		if !visit(id) {
			t.Fatalf("parent_map has a cycle through %s", id)
		}
	}
	cm := m["child_map"].(map[string]any)
	if len(cm) != len(pm) {
		t.Errorf("child_map has %d keys, parent_map %d", len(cm), len(pm))
	}
}

func checkCatalog(t *testing.T, c map[string]any, sum Summary, upper bool) {
	t.Helper()
	want := sum.Counts["model"] + sum.Counts["seed"] + sum.Counts["snapshot"]
	if got := len(c["nodes"].(map[string]any)); got != want {
		t.Errorf("catalog has %d nodes, want %d", got, want)
	}
	if got := len(c["sources"].(map[string]any)); got != sum.Counts["source"] {
		t.Errorf("catalog has %d sources, want %d", got, sum.Counts["source"])
	}
	for _, v := range c["nodes"].(map[string]any) {
		md := v.(map[string]any)["metadata"].(map[string]any)
		name := md["name"].(string)
		if isUpper := name == strings.ToUpper(name); isUpper != upper {
			t.Errorf("catalog name %q: upper case = %v, want %v", name, isUpper, upper)
		}
	}
}

func checkRunResults(t *testing.T, r map[string]any, sum Summary, failing int) {
	t.Helper()
	results := r["results"].([]any)
	want := sum.Counts["model"] + sum.Counts["seed"] + sum.Counts["snapshot"] + sum.Counts["test"] + sum.Counts["unit_test"]
	if len(results) != want {
		t.Errorf("run_results has %d results, want %d", len(results), want)
	}
	status := map[string]int{}
	for _, x := range results {
		status[x.(map[string]any)["status"].(string)]++
	}
	if got := status["fail"] + status["warn"]; got != failing {
		t.Errorf("run_results has %d failing tests (%v), want %d", got, status, failing)
	}
}

func checkSources(t *testing.T, s, m map[string]any) {
	t.Helper()
	withCriteria := 0
	for _, v := range m["sources"].(map[string]any) {
		f := v.(map[string]any)["freshness"].(map[string]any)
		if f["warn_after"].(map[string]any)["count"] != nil {
			withCriteria++
		}
	}
	if got := len(s["results"].([]any)); got != withCriteria || got == 0 {
		t.Errorf("sources.json has %d results, want %d (> 0)", got, withCriteria)
	}
}

func TestWriteDeterministic(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions(120)
	opts.FailingTests = 2
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if _, err := Write(dir, opts); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	opts.Seed = 2
	if _, err := Write(c, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, name := range []string{"manifest.json", "catalog.json", "run_results.json", "sources.json"} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		z, _ := os.ReadFile(filepath.Join(c, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same options", name)
		}
		if bytes.Equal(x, z) {
			t.Errorf("%s is the same for seeds 1 and 2", name)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"unknown adapter", Options{Adapter: "oracle"}},
		{"negative models", Options{Models: -1}},
		{"negative failing tests", Options{FailingTests: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Write(t.TempDir(), tt.opts); err == nil {
				t.Errorf("Write(%+v) = nil error, want one", tt.opts)
			}
		})
	}
}

// TestSchemas validates every artifact against dbt's published JSON Schemas.
func TestSchemas(t *testing.T) {
	ref := filepath.Join(corpus.Reference(t), "dbt-schemas", "dbt-core", "schemas", "dbt")
	schemas := map[string]*jsonschema.Schema{}
	for file, schema := range map[string]string{
		"manifest.json": "manifest/v12.json", "catalog.json": "catalog/v1.json",
		"run_results.json": "run-results/v6.json", "sources.json": "sources/v3.json",
	} {
		sch, err := jsonschema.NewCompiler().Compile(filepath.Join(ref, schema))
		if err != nil {
			t.Fatalf("compile %s: %v", schema, err)
		}
		schemas[file] = sch
	}
	for _, adapter := range adapters() {
		t.Run(adapter, func(t *testing.T) {
			dir := t.TempDir()
			opts := DefaultOptions(40)
			opts.Adapter, opts.FailingTests = adapter, 2
			if _, err := Write(dir, opts); err != nil {
				t.Fatalf("Write: %v", err)
			}
			for file, sch := range schemas {
				validate(t, sch, filepath.Join(dir, file))
			}
		})
	}
}

func validate(t *testing.T, sch *jsonschema.Schema, docPath string) {
	t.Helper()
	f, err := os.Open(docPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", docPath, err)
	}
	if err := sch.Validate(doc); err != nil {
		msg := err.Error()
		t.Errorf("%s does not match dbt's schema: %s", filepath.Base(docPath), msg[:min(len(msg), 2000)])
	}
}

func BenchmarkWrite(b *testing.B) {
	dir := b.TempDir()
	opts := DefaultOptions(1000)
	for b.Loop() {
		sum, err := Write(dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(sum.Files["manifest.json"])
	}
}
