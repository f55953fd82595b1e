package main

import (
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
)

const (
	testToken  = "ops-test-token"
	testSecret = "ops-test-secret"
	testJob    = 300
)

// testArtifacts writes a small generated dbt project's artifacts once per test.
func testArtifacts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(4)); err != nil {
		t.Fatalf("gen.Write: %v", err)
	}
	return dir
}

// account is one simulated account: project 100 "analytics", environment
// 200 "Production", deploy job 300 with runs finished days ago, CI job 301.
func account(dir string, runs int, docs, freshness bool, hooks ...devcloud.WebhookSpec) devcloud.AccountSpec {
	var rs []devcloud.RunSpec
	now := time.Now().UTC()
	for i := runs; i >= 1; i-- {
		rs = append(rs, devcloud.RunSpec{ID: int64(1000 + runs - i), Status: 10, FinishedAt: now.Add(-time.Duration(i) * 24 * time.Hour)})
	}
	return devcloud.AccountSpec{ID: 1, Name: "Acme", Token: testToken, Webhooks: hooks,
		Projects: []devcloud.ProjectSpec{{ID: 100, Name: "analytics", Environments: []devcloud.EnvironmentSpec{{
			ID: 200, Name: "Production", DeploymentType: "production",
			Jobs: []devcloud.JobSpec{
				{ID: testJob, Name: "Nightly", GenerateDocs: docs, RunGenerateSources: freshness, ArtifactsDir: dir, Runs: rs},
				{ID: 301, Name: "CI", JobType: "ci", ArtifactsDir: dir},
			},
		}}}}}
}
