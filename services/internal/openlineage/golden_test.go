package openlineage

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/corpus"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// genInput generates a small project's artifacts (internal/gen) and opens them.
func genInput(t *testing.T, opts gen.Options) normalize.Input {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.Write(dir, opts); err != nil {
		t.Fatal(err)
	}
	open := func(name string) io.Reader {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil
		}
		return bytes.NewReader(b)
	}
	return normalize.Input{Manifest: open(events.ManifestJSON), RunResults: open(events.RunResultsJSON),
		Catalog: open(events.CatalogJSON), Sources: open(events.SourcesJSON)}
}

// TestGoldenGenerated: the events of a small generated project (with a
// failing test), against testdata/gen_small.ndjson; each validates against
// the spec. go test -run Golden -update rewrites the file.
func TestGoldenGenerated(t *testing.T) {
	opts := gen.DefaultOptions(3)
	opts.FailingTests = 1
	h := smallHarvest()
	h.Run.Status, h.Run.StatusMessage = "Success", ""
	h.Run.StartedAt, h.Run.FinishedAt = nil, nil // from the run results' timings
	evs, sum, warnings, err := FromArtifacts(t.Context(), genInput(t, opts), h, smallOptions)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if sum.Tests.Fail != 1 {
		t.Errorf("generated project: %d failing tests, want 1", sum.Tests.Fail)
	}
	var buf bytes.Buffer
	if _, err := WriteNDJSON(&buf, evs); err != nil {
		t.Fatal(err)
	}
	v := newSpecValidator(t)
	fails := 0
	for line := range strings.Lines(buf.String()) {
		if err := v.validate([]byte(line)); err != nil {
			t.Errorf("invalid event: %v\n%s", err, line)
		}
		if strings.Contains(line, `"eventType":"FAIL"`) {
			fails++
		}
	}
	if want := sum.ResultStatuses["fail"] + sum.ResultStatuses["error"]; fails != want || fails == 0 {
		t.Errorf("%d FAIL events, want one per failed node (%d)", fails, want)
	}
	path := filepath.Join("testdata", "gen_small.ndjson")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("events differ from %s (run with -update after checking the change):\n%s", path, firstDiff(buf.String(), string(want)))
	}
}

func firstDiff(got, want string) string {
	g, w := bufio.NewScanner(strings.NewReader(got)), bufio.NewScanner(strings.NewReader(want))
	g.Buffer(nil, 1<<24)
	w.Buffer(nil, 1<<24)
	for i := 1; ; i++ {
		gm, wm := g.Scan(), w.Scan()
		if !gm && !wm {
			return "(same lines)"
		}
		if g.Text() != w.Text() {
			return "line " + strconv.Itoa(i) + ":\n got " + g.Text() + "\nwant " + w.Text()
		}
	}
}

const ol = "openlineage/integration/common/tests/dbt/"

// corpusCases are real dbt projects' artifacts (OpenLineage's own dbt
// integration tests among them), under the corpus root.
var corpusCases = []corpusCase{
	{ol + "catalog/target/manifest.json", ol + "catalog/target/run_results.json", ol + "catalog/target/catalog.json"},
	{ol + "build/target/manifest.json", ol + "build/target/run_results.json", ""},
	{ol + "spark/thrift/target/manifest.json", ol + "spark/thrift/target/run_results.json", ol + "spark/thrift/target/catalog.json"},
	{ol + "compiled_code/target/manifest.json", ol + "compiled_code/target/run_results.json", ""},
	{ol + "singular_test/target/manifest.json", ol + "singular_test/target/run_results.json", ""},
	{"dbt-artifacts-parser/tests/resources/manifest/v12/jaffle_shop/manifest_1.12.json",
		"dbt-artifacts-parser/tests/resources/run_results/v6/jaffle_shop/run_results_1.12.json",
		"dbt-artifacts-parser/tests/resources/catalog/v1/jaffle_shop/catalog_1.12.json"},
	{"tap-dbt-artifacts/target/manifest.json", "tap-dbt-artifacts/target/run_results.json", "tap-dbt-artifacts/target/catalog.json"},
}

type corpusCase struct{ manifest, runResults, catalog string }

// input opens the case's artifacts under root.
func (c corpusCase) input(t *testing.T, root string) normalize.Input {
	t.Helper()
	read := func(rel string) io.Reader {
		if rel == "" {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.NewReader(b)
	}
	return normalize.Input{Manifest: read(c.manifest), RunResults: read(c.runResults), Catalog: read(c.catalog)}
}

// TestCorpusEventsValidate: the events of real dbt projects' artifacts
// (OpenLineage's own dbt integration tests among them) validate against the
// spec, and every executed node has its START and its end.
func TestCorpusEventsValidate(t *testing.T) {
	root := corpus.Artifacts(t)
	v := newSpecValidator(t)
	for _, c := range corpusCases {
		t.Run(strings.Split(c.manifest, "/")[0]+"/"+filepath.Base(filepath.Dir(filepath.Dir(c.manifest))), func(t *testing.T) {
			evs, _, _, err := FromArtifacts(t.Context(), c.input(t, root), Harvest{Generation: 1}, Options{DatasetNamespace: "postgres://db:5432"})
			if err != nil {
				t.Fatal(err)
			}
			open := map[string]int{}
			for _, e := range evs {
				b, err := Encode(e.RunEvent)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.validate(b); err != nil {
					t.Errorf("%s %s: %v", e.Node, e.RunEvent.EventType, err)
				}
				if e.RunEvent.EventType == Start {
					open[e.Node]++
				} else {
					open[e.Node]--
				}
			}
			for node, n := range open {
				if n != 0 {
					t.Errorf("%q: START and end events do not pair (%+d)", node, n)
				}
			}
			if len(evs) < 4 {
				t.Errorf("%d events, want the parent's and some nodes'", len(evs))
			}
		})
	}
}
