package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
)

// manifestEntries counts a manifest's resource entries with a plain decode:
// nodes, sources, exposures, metrics, semantic_models, saved_queries,
// unit_tests, and functions (dbt 1.11+), which are assets too.
func manifestEntries(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	n := 0
	for _, s := range []string{"nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests", "functions"} {
		var m map[string]json.RawMessage
		if raw, ok := doc[s]; ok {
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("decode %s.%s: %v", path, s, err)
			}
		}
		n += len(m)
	}
	return n
}

// v12Manifests lists the corpus manifests of schema v12 (INDEX.tsv).
func v12Manifests(t *testing.T) (string, []string) {
	t.Helper()
	dir := corpus.Artifacts(t)
	f, err := os.Open(filepath.Join(dir, "INDEX.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) > 6 && cols[5] == "manifest" && cols[6] == "v12" {
			out = append(out, cols[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return dir, out
}

func TestNormalizeCorpusV12(t *testing.T) {
	dir, manifests := v12Manifests(t)
	if len(manifests) == 0 {
		t.Fatal("no v12 manifest in the corpus index")
	}
	for _, rel := range manifests {
		t.Run(rel, func(t *testing.T) {
			path := filepath.Join(dir, rel)
			args := []string{"--account", "1", "--project", "2", "--environment", "3", path}
			for _, other := range []string{"catalog.json", "run_results.json", "sources.json"} {
				p := filepath.Join(filepath.Dir(path), other)
				if _, err := os.Stat(p); err == nil {
					args = append(args, p)
				}
			}
			var stdout, stderr bytes.Buffer
			getenv := func(string) string { return "" }
			if err := runNormalize(t.Context(), args, getenv, &stdout, &stderr); err != nil {
				t.Fatalf("runNormalize(%v) = %v; stderr:\n%s", args, err, stderr.String())
			}
			lines := bytes.Count(stdout.Bytes(), []byte("\n"))
			if want := manifestEntries(t, path); lines != want {
				t.Errorf("runNormalize(%v) wrote %d lines, want %d (manifest entries)", args, lines, want)
			}
			sc := bufio.NewScanner(&stdout)
			sc.Buffer(nil, 64<<20)
			for sc.Scan() {
				var a struct {
					AssetID  string `json:"asset_id"`
					UniqueID string `json:"unique_id"`
				}
				if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
					t.Fatalf("line is not JSON: %v", err)
				}
				if want := "1/2/3/" + a.UniqueID; a.AssetID != want {
					t.Fatalf("asset_id = %q, want %q", a.AssetID, want)
				}
			}
			t.Log(stderr.String())
		})
	}
}

func TestNormalizeCommandErrors(t *testing.T) {
	getenv := func(string) string { return "" }
	tests := []struct {
		name string
		args []string
	}{
		{"no path", nil},
		{"missing path", []string{filepath.Join(t.TempDir(), "nope")}},
		{"folder without manifest", []string{t.TempDir()}},
		{"bad flag", []string{"--nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := runNormalize(t.Context(), tt.args, getenv, &stdout, &stderr); err == nil {
				t.Errorf("runNormalize(%q) = nil, want an error", tt.args)
			}
		})
	}
}
