// Package corpus finds, for tests, the repository root and the shared folder
// beside the checkout (../shared) with its real dbt artifacts and reference
// material. A test that needs ../shared skips with a clear message when it is
// absent, and fails instead when HARVESTER_REQUIRE_CORPUS=1 (as in CI).
package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot is the folder holding go.work, found by walking up from the test's
// working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("os.Getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test's directory")
		}
		dir = parent
	}
}

// Shared is ../shared beside the checkout, or the skip/fail described above.
func Shared(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(RepoRoot(t)), "shared")
	if _, err := os.Stat(filepath.Join(dir, "testdata", "dbt-artifacts", "INDEX.tsv")); err != nil {
		if os.Getenv("HARVESTER_REQUIRE_CORPUS") == "1" {
			t.Fatalf("HARVESTER_REQUIRE_CORPUS=1 but the shared corpus is missing: %v", err)
		}
		t.Skipf("skipping: the shared corpus %s is absent (set HARVESTER_REQUIRE_CORPUS=1 to fail instead)", dir)
	}
	return dir
}

// Artifacts is ../shared/testdata/dbt-artifacts (see its INDEX.tsv).
func Artifacts(t testing.TB) string {
	t.Helper()
	return filepath.Join(Shared(t), "testdata", "dbt-artifacts")
}

// Reference is ../shared/reference (dbt Cloud API responses, dbt JSON Schemas).
func Reference(t testing.TB) string {
	t.Helper()
	return filepath.Join(Shared(t), "reference")
}
