package archtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
)

const (
	module   = "github.com/dbt-harvester/harvester/services"
	internal = module + "/internal/"
)

// deps lists pkg's transitive imports (tests excluded), as go list sees them.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg)
	cmd.Dir = filepath.Join(corpus.RepoRoot(t), "services")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.String())
	}
	return strings.Fields(string(out))
}

// The three stages are siblings on the wire: none may import another, and
// what they share (ledger, publish, consume, ...) lives outside them.
func TestNoStageImportsAnother(t *testing.T) {
	stages := []string{"receiver", "fetcher", "normalizer"}
	for _, stage := range stages {
		for _, d := range deps(t, internal+stage) {
			for _, other := range stages {
				if other != stage && (d == internal+other || strings.HasPrefix(d, internal+other+"/")) {
					t.Errorf("stage %s imports stage %s (through its dependencies): move what they share out of %s", stage, other, other)
				}
			}
		}
	}
}

// The rest of the import rules, as a table: package, and what it must not
// depend on.
func TestImportRules(t *testing.T) {
	tests := []struct {
		pkg       string
		forbidden []string
		why       string
	}{
		{internal + "normalize", []string{"github.com/nats-io/", internal + "fetcher", internal + "normalizer", internal + "receiver"},
			"normalize is the pure transform: artifacts in, assets out, no transport"},
		{internal + "artifact", []string{"github.com/nats-io/", internal + "normalize"}, "artifact reads JSON and nothing else"},
		{internal + "dbtcloud", []string{"github.com/nats-io/", internal + "config", internal + "ledger", internal + "fetcher"},
			"dbtcloud is the API client: it knows nothing of the pipeline"},
		{internal + "ledger", []string{internal + "fetcher", internal + "normalizer", internal + "receiver"}, "every stage uses the ledger"},
		{"github.com/dbt-harvester/harvester/events", []string{module}, "events is the public contract module"},
	}
	for _, tt := range tests {
		for _, d := range deps(t, tt.pkg) {
			for _, f := range tt.forbidden {
				if d == f || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") {
					t.Errorf("%s depends on %s: %s", tt.pkg, d, tt.why)
				}
			}
		}
	}
}

// The harvester main is flags, wiring and printing: logic belongs in an
// internal package, and no file of the program (its tests aside) runs over
// 150 lines.
func TestHarvesterMainStaysSmall(t *testing.T) {
	dir := filepath.Join(corpus.RepoRoot(t), "services", "harvester")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for sc := bufio.NewScanner(fh); sc.Scan(); {
			n++
		}
		fh.Close()
		if n > 150 {
			t.Errorf("%s has %d lines, more than 150: move its logic into an internal package", filepath.Base(f), n)
		}
	}
}
