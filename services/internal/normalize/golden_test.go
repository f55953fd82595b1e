package normalize

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/corpus"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenCase is one golden normalization of corpus artifacts (paths
// relative to the corpus root; "" when absent).
type goldenCase struct {
	name                                   string
	manifest, runResults, catalog, sources string
}

func goldenCases() []goldenCase {
	const (
		ol  = "openlineage/integration/common/tests/dbt/"
		dap = "dbt-artifacts-parser/tests/resources/"
	)
	return []goldenCase{
		{name: "v01_jaffle_shop", manifest: dap + "manifest/v1/jaffle_shop/manifest.json", runResults: dap + "run_results/v1/jaffle_shop/run_results.json"},
		{name: "v02_openlineage_catalog", manifest: ol + "catalog/target/manifest.json", runResults: ol + "catalog/target/run_results.json", catalog: ol + "catalog/target/catalog.json"},
		{name: "v03_openlineage_build", manifest: ol + "build/target/manifest.json", runResults: ol + "build/target/run_results.json"},
		{name: "v04_openlineage_spark", manifest: ol + "spark/thrift/target/manifest.json", runResults: ol + "spark/thrift/target/run_results.json", catalog: ol + "spark/thrift/target/catalog.json"},
		{name: "v05_dbt_core_state", manifest: "dbt-core/tests/functional/artifacts/data/state/v5/manifest.json"},
		{name: "v06_jaffle_shop", manifest: dap + "manifest/v6/jaffle_shop/manifest.json"},
		{name: "v07_openlineage_compiled_code", manifest: ol + "compiled_code/target/manifest.json", runResults: ol + "compiled_code/target/run_results.json"},
		{name: "v08_dbt_core_state", manifest: "dbt-core/tests/functional/artifacts/data/state/v8/manifest.json"},
		{name: "v09_recce", manifest: "recce/tests/manifest.json", catalog: "recce/tests/catalog.json"},
		{name: "v10_dbt_core_state", manifest: "dbt-core/tests/functional/artifacts/data/state/v10/manifest.json"},
		{name: "v11_openlineage_singular_test", manifest: ol + "singular_test/target/manifest.json", runResults: ol + "singular_test/target/run_results.json"},
		{name: "v12_jaffle_shop_1_12", manifest: dap + "manifest/v12/jaffle_shop/manifest_1.12.json",
			runResults: dap + "run_results/v6/jaffle_shop/run_results_1.12.json", catalog: dap + "catalog/v1/jaffle_shop/catalog_1.12.json"},
		{name: "v12_tap_dbt_artifacts", manifest: "tap-dbt-artifacts/target/manifest.json", runResults: "tap-dbt-artifacts/target/run_results.json",
			catalog: "tap-dbt-artifacts/target/catalog.json", sources: "tap-dbt-artifacts/target/sources.json"},
	}
}

// open opens a corpus file, or returns nil for "".
func open(t *testing.T, root, rel string) io.Reader {
	t.Helper()
	if rel == "" {
		return nil
	}
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return bufio.NewReader(f)
}

// normalizeNDJSON normalizes c and returns the NDJSON of its assets and the
// JSON of its summary.
func normalizeNDJSON(t *testing.T, root string, c goldenCase) ([]byte, []byte) {
	t.Helper()
	in := Input{
		Manifest:   open(t, root, c.manifest),
		RunResults: open(t, root, c.runResults),
		Catalog:    open(t, root, c.catalog),
		Sources:    open(t, root, c.sources),
	}
	var out bytes.Buffer
	ref := events.RunRef{AccountID: 10, ProjectID: 20, EnvironmentID: 30, JobID: 40, RunID: 50}
	sum, err := JSON(t.Context(), in, Options{Ref: ref}, func(e Encoded) error {
		if !json.Valid(e.JSON) {
			t.Errorf("asset %s is not valid JSON: %s", e.UniqueID, e.JSON)
		}
		out.Write(e.JSON) // the bytes the asset event carries
		return out.WriteByte('\n')
	})
	if err != nil {
		t.Fatalf("Normalize(%s): %v", c.name, err)
	}
	s, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), append(s, '\n')
}

func TestGolden(t *testing.T) {
	root := corpus.Artifacts(t)
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			assets, summary := normalizeNDJSON(t, root, c)
			checkGolden(t, filepath.Join("testdata", c.name+".ndjson"), assets)
			checkGolden(t, filepath.Join("testdata", c.name+".summary.json"), summary)
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < min(len(gl), len(wl)); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs at line %d (run with -update if intended):\ngot:  %.600s\nwant: %.600s", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s: got %d lines, want %d (run with -update if intended)", path, len(gl), len(wl))
	}
}

// TestCorpusManifestCounts normalizes every manifest of the corpus, of every
// version, and checks one asset per resource entry.
func TestCorpusManifestCounts(t *testing.T) {
	root := corpus.Artifacts(t)
	for _, rel := range corpusFiles(t, root, "manifest") {
		t.Run(rel, func(t *testing.T) {
			n := 0
			_, err := Normalize(t.Context(), Input{Manifest: open(t, root, rel)}, Options{IncludeCode: true},
				func(events.Asset) error { n++; return nil })
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if want := countEntries(t, filepath.Join(root, rel)); n != want {
				t.Errorf("Normalize emitted %d assets, want %d", n, want)
			}
		})
	}
}

// corpusFiles lists the corpus files of one artifact_kind (INDEX.tsv).
func corpusFiles(t testing.TB, root, kind string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "INDEX.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		cols := strings.Split(line, "\t")
		if len(cols) > 5 && cols[5] == kind {
			out = append(out, cols[0])
		}
	}
	return out
}

// countEntries counts a manifest's resource entries with encoding/json.
func countEntries(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(b, &sections); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range []string{"nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests", "functions"} {
		var m map[string]json.RawMessage
		if raw, ok := sections[s]; ok {
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
		}
		n += len(m)
	}
	return n
}

// TestCorpusOtherArtifacts reads every run_results, catalog and sources
// file of the corpus, of every version, through the normalizer's readers.
func TestCorpusOtherArtifacts(t *testing.T) {
	root := corpus.Artifacts(t)
	const manifest = `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {}}`
	for _, kind := range []string{"run-results", "catalog", "sources", "semantic_manifest"} {
		for _, rel := range corpusFiles(t, root, kind) {
			t.Run(rel, func(t *testing.T) {
				in := Input{Manifest: strings.NewReader(manifest)}
				r := open(t, root, rel)
				switch kind {
				case "run-results":
					in.RunResults = r
				case "catalog":
					in.Catalog = r
				case "sources":
					in.Sources = r
				default:
					in.SemanticManifest = r
				}
				if _, err := JSON(t.Context(), in, Options{}, func(Encoded) error { return nil }); err != nil {
					t.Errorf("JSON: %v", err)
				}
			})
		}
	}
}

// TestManifestV20 reads a Fusion manifest (v20, the shape of v12) like the
// same manifest as v12: the corpus has none, so one is made from a v12 one.
func TestManifestV20(t *testing.T) {
	root := corpus.Artifacts(t)
	v12, err := os.ReadFile(filepath.Join(root, "dbt-artifacts-parser/tests/resources/manifest/v12/jaffle_shop/manifest_1.12.json"))
	if err != nil {
		t.Fatal(err)
	}
	v20 := bytes.Replace(v12, []byte("dbt/manifest/v12.json"), []byte("dbt/manifest/v20.json"), 1)
	read := func(doc []byte) (string, Summary) {
		var out bytes.Buffer
		sum, err := JSON(t.Context(), Input{Manifest: bytes.NewReader(doc)}, Options{}, func(e Encoded) error {
			out.Write(e.JSON)
			return nil
		})
		if err != nil {
			t.Fatalf("JSON: %v", err)
		}
		return out.String(), sum
	}
	a12, s12 := read(v12)
	a20, s20 := read(v20)
	if a12 != a20 || s20.Assets != s12.Assets || len(s20.Warnings) != len(s12.Warnings) {
		t.Errorf("v20 manifest: %d assets, warnings %q; want the v12 reading (%d assets, %q)", s20.Assets, s20.Warnings, s12.Assets, s12.Warnings)
	}
}
