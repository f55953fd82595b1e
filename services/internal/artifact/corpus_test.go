package artifact

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
)

// indexRow is one line of the corpus INDEX.tsv.
type indexRow struct {
	path, kind, version string
}

func corpusIndex(t *testing.T) (string, []indexRow) {
	t.Helper()
	dir := corpus.Artifacts(t)
	f, err := os.Open(filepath.Join(dir, "INDEX.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []indexRow
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		cols := strings.Split(sc.Text(), "\t")
		if first || len(cols) < 7 {
			continue
		}
		rows = append(rows, indexRow{path: cols[0], kind: cols[5], version: cols[6]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return dir, rows
}

// readAny reads the file at path as an artifact of the corpus kind.
func readAny(ctx context.Context, kind, path string) (Info, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, true, err
	}
	defer f.Close()
	switch kind {
	case "manifest":
		var n int
		info, err := ReadManifest(ctx, f, ManifestOptions{IncludeCode: true}, ManifestHandler{
			Resource: func(string, string, *Resource) error { n++; return nil },
		})
		return info, true, err
	case "run-results":
		info, err := ReadRunResults(ctx, f, func(*RunResult) error { return nil })
		return info, true, err
	case "catalog":
		info, err := ReadCatalog(ctx, f, func(string, string, *CatalogTable) error { return nil })
		return info, true, err
	case "sources":
		info, err := ReadSources(ctx, f, func(*FreshnessResult) error { return nil })
		return info, true, err
	case "semantic_manifest":
		info, err := ReadSemanticManifest(ctx, f)
		return info, true, err
	}
	return Info{}, false, nil
}

func TestReadCorpus(t *testing.T) {
	dir, rows := corpusIndex(t)
	for _, row := range rows {
		t.Run(row.path, func(t *testing.T) {
			info, ok, err := readAny(t.Context(), row.kind, filepath.Join(dir, row.path))
			if !ok {
				t.Skipf("artifact kind %q is not read", row.kind)
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if row.version != "" && info.Version.Written != atoi(strings.TrimPrefix(row.version, "v")) {
				t.Errorf("version = v%d, want %s", info.Version.Written, row.version)
			}
			for _, w := range info.Warnings {
				t.Logf("warning: %s", w)
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
