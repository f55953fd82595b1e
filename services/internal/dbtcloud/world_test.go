package dbtcloud_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
)

// runResultsWhich downloads a run's run_results.json at step and returns
// its args.which.
func runResultsWhich(t *testing.T, c *dbtcloud.Client, runID int64, step int) string {
	t.Helper()
	body, _, err := c.Artifact(t.Context(), runID, "run_results.json", step)
	if err != nil {
		t.Fatalf("Artifact(%d, run_results.json, %d): %v", runID, step, err)
	}
	defer body.Close()
	var rr struct {
		Args struct{ Which string } `json:"args"`
	}
	if err := json.NewDecoder(body).Decode(&rr); err != nil {
		t.Fatalf("decode run_results.json: %v", err)
	}
	return rr.Args.Which
}

// world is two accounts: account 1 with a project of a production and a
// development environment, a deploy job (run then test, docs, freshness)
// with three runs, and a CI job; account 2 with one job.
func world(t *testing.T) devcloud.Config {
	dir := artifactsDir(t)
	day := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	return devcloud.Config{Accounts: []devcloud.AccountSpec{
		{ID: 1, Name: "Acme", Plan: "enterprise", Projects: []devcloud.ProjectSpec{{ID: 100, Name: "analytics", Environments: []devcloud.EnvironmentSpec{
			{ID: 200, Name: "Production", DeploymentType: "production", Jobs: []devcloud.JobSpec{{
				ID: 300, Name: "Nightly", ExecuteSteps: []string{"dbt run", "dbt test"}, GenerateDocs: true, RunGenerateSources: true, ArtifactsDir: dir,
				Runs: []devcloud.RunSpec{
					{ID: 401, FinishedAt: day.Add(-48 * time.Hour)},
					{ID: 402, Status: 20, FinishedAt: day.Add(-24 * time.Hour)},
					{ID: 403, FinishedAt: day},
				},
			}, {
				ID: 301, Name: "Weekly", ExecuteSteps: []string{"dbt build"}, ArtifactsDir: dir,
				Runs: []devcloud.RunSpec{{ID: 404, Status: 30, FinishedAt: day.Add(time.Hour)}},
			}}},
			{ID: 201, Name: "Development", Type: "development"},
			{ID: 202, Name: "CI", DeploymentType: "staging", Jobs: []devcloud.JobSpec{{ID: 310, Name: "CI check", JobType: "ci", ExecuteSteps: []string{"dbt build --select state:modified+"}}}},
		}}}},
		{ID: 2, Name: "Other", Token: "dbtc_other-account-token", Projects: []devcloud.ProjectSpec{{ID: 110, Name: "other", Environments: []devcloud.EnvironmentSpec{
			{ID: 210, Name: "Prod", Jobs: []devcloud.JobSpec{{ID: 320, ArtifactsDir: dir, Runs: []devcloud.RunSpec{{ID: 500}}}}},
		}}}},
	}}
}

func TestCatalogReads(t *testing.T) {
	ctx := t.Context()
	c, _ := setup(t, world(t), dbtcloud.Options{PageSize: 1})
	acct, err := c.GetAccount(ctx)
	if err != nil || acct.ID != 1 || acct.Name != "Acme" || acct.Plan != "enterprise" {
		t.Errorf("GetAccount = %+v, %v", acct, err)
	}
	projects, err := c.ListProjects(ctx)
	if err != nil || len(projects) != 1 || projects[0].ID != 100 || projects[0].Name != "analytics" {
		t.Errorf("ListProjects = %+v, %v", projects, err)
	}
	for _, pid := range []int64{0, 100} {
		envs, err := c.ListEnvironments(ctx, pid)
		if err != nil || len(envs) != 3 {
			t.Fatalf("ListEnvironments(%d) = %+v, %v; want 3", pid, envs, err)
		}
		want := []dbtcloud.Environment{
			{ID: 200, AccountID: 1, ProjectID: 100, Name: "Production", Type: "deployment", DeploymentType: "production", DBTVersion: "1.10.6", State: 1},
			{ID: 201, AccountID: 1, ProjectID: 100, Name: "Development", Type: "development", DBTVersion: "1.10.6", State: 1},
			{ID: 202, AccountID: 1, ProjectID: 100, Name: "CI", Type: "deployment", DeploymentType: "staging", DBTVersion: "1.10.6", State: 1},
		}
		if !slices.Equal(envs, want) {
			t.Errorf("ListEnvironments(%d) = %+v\nwant %+v", pid, envs, want)
		}
	}
	jobs, err := c.ListJobs(ctx, dbtcloud.JobFilter{})
	if err != nil || len(jobs) != 3 {
		t.Fatalf("ListJobs = %d jobs, %v; want 3", len(jobs), err)
	}
	ci := jobs[2]
	if ci.ID != 310 || !ci.IsCI() || ci.JobType != "ci" || ci.EnvironmentID != 202 || ci.ProjectID != 100 {
		t.Errorf("CI job = %+v", ci)
	}
	nightly := jobs[0]
	if nightly.IsCI() || !nightly.GenerateDocs || !nightly.RunGenerateSources || !slices.Equal(nightly.ExecuteSteps, []string{"dbt run", "dbt test"}) || !nightly.Triggers.Schedule {
		t.Errorf("deploy job = %+v", nightly)
	}
	filtered, err := c.ListJobs(ctx, dbtcloud.JobFilter{EnvironmentID: 202})
	if err != nil || len(filtered) != 1 || filtered[0].ID != 310 {
		t.Errorf("ListJobs(environment 202) = %+v, %v", filtered, err)
	}
}

func TestIsCI(t *testing.T) {
	tests := []struct {
		job  dbtcloud.Job
		want bool
	}{
		{dbtcloud.Job{JobType: "ci"}, true},
		{dbtcloud.Job{JobType: "scheduled", Triggers: dbtcloud.JobTriggers{GithubWebhook: true}}, false},
		{dbtcloud.Job{Triggers: dbtcloud.JobTriggers{GitProviderWebhook: true}}, true}, // no job_type: older API
		{dbtcloud.Job{Triggers: dbtcloud.JobTriggers{Schedule: true}}, false},
		{dbtcloud.Job{JobType: "merge"}, false},
	}
	for _, tt := range tests {
		if got := tt.job.IsCI(); got != tt.want {
			t.Errorf("%+v.IsCI() = %v, want %v", tt.job, got, tt.want)
		}
	}
}

func TestListRunsFilters(t *testing.T) {
	day := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		filter dbtcloud.RunFilter
		want   []int64
	}{
		{"all", dbtcloud.RunFilter{}, []int64{401, 402, 403, 404}},
		{"job", dbtcloud.RunFilter{JobID: 300, OrderBy: "-id"}, []int64{403, 402, 401}},
		{"environment and project", dbtcloud.RunFilter{EnvironmentID: 200, ProjectID: 100, Status: 30}, []int64{404}},
		{"status__in", dbtcloud.RunFilter{Statuses: []int{10, 20}}, []int64{401, 402, 403}},
		{"finished after", dbtcloud.RunFilter{FinishedAfter: day.Add(-25 * time.Hour)}, []int64{402, 403, 404}},
		{"finished between", dbtcloud.RunFilter{FinishedAfter: day.Add(-49 * time.Hour), FinishedBefore: day.Add(-time.Hour), OrderBy: "-finished_at"}, []int64{402, 401}},
		{"id__gt and limit", dbtcloud.RunFilter{IDGreaterThan: 401, Limit: 2}, []int64{402, 403}},
		{"order by finished_at desc", dbtcloud.RunFilter{OrderBy: "-finished_at", Limit: 3}, []int64{404, 403, 402}},
	}
	c, _ := setup(t, world(t), dbtcloud.Options{PageSize: 2})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs, err := c.ListRuns(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("ListRuns(%+v): %v", tt.filter, err)
			}
			var got []int64
			for _, r := range runs {
				got = append(got, r.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ListRuns(%+v) = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
}

// TestListRunsRangeIgnored checks the client-side finished_at filter against
// a server that ignores finished_at__range, as one third party reports.
func TestListRunsRangeIgnored(t *testing.T) {
	day := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":{"code":200},"data":[
			{"id":1,"finished_at":"2026-03-01 06:00:00.000000+00:00"},
			{"id":2,"finished_at":null},
			{"id":3,"finished_at":"2026-03-02 05:00:00.000000+00:00"},
			{"id":4,"finished_at":"2026-03-03 06:00:00.000000+00:00"}],
			"extra":{"pagination":{"count":4,"total_count":4}}}`)
	}))
	defer srv.Close()
	c, err := dbtcloud.New(dbtcloud.Options{AccessURL: srv.URL, AccountID: 1, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := c.ListRuns(t.Context(), dbtcloud.RunFilter{FinishedAfter: day.Add(-12 * time.Hour), FinishedBefore: day})
	if err != nil || len(runs) != 1 || runs[0].ID != 3 {
		t.Errorf("ListRuns on a server ignoring the range = %+v, %v; want run 3 only", runs, err)
	}
}

func TestMultiStepRuns(t *testing.T) {
	c, _ := setup(t, world(t), fast)
	run, err := c.GetRun(t.Context(), 403)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range run.Steps {
		names = append(names, st.Name)
	}
	want := []string{"Clone Git Repository", "Create Profile from Connection Snowflake", "Invoke dbt with `dbt deps`",
		"Invoke dbt with `dbt source freshness`", "Invoke dbt with `dbt run`", "Invoke dbt with `dbt test`", "Invoke dbt with `dbt docs generate`"}
	if !slices.Equal(names, want) || !run.HasDocsGenerated || !run.HasSourcesGenerated {
		t.Errorf("run 403 steps = %q (docs %v, sources %v), want %q", names, run.HasDocsGenerated, run.HasSourcesGenerated, want)
	}
	for step, which := range map[int]string{5: "run", 6: "test", 7: "generate", 0: "generate"} {
		if got := runResultsWhich(t, c, 403, step); got != which {
			t.Errorf("run 403 step %d run_results.json args.which = %q, want %q", step, got, which)
		}
	}
	errored, err := c.GetRun(t.Context(), 402)
	if err != nil || errored.Steps[5].Status != dbtcloud.StatusError || errored.Steps[4].Status != dbtcloud.StatusSuccess || errored.Status != dbtcloud.StatusError {
		t.Errorf("errored run 402 = %+v, %v; want the test step errored", errored.Steps, err)
	}
}

func TestAccountsAreSeparate(t *testing.T) {
	cfg := world(t)
	cfg.Token = token
	c, _ := setup(t, cfg, dbtcloud.Options{AccountID: 2})
	if _, err := c.GetRun(t.Context(), 500); err == nil {
		t.Error("account 1's token read account 2's run")
	}
	c2, _ := setup(t, cfg, dbtcloud.Options{AccountID: 2, Token: "dbtc_other-account-token"})
	if _, err := c2.GetRun(t.Context(), 500); err != nil {
		t.Errorf("GetRun(500) with account 2's token: %v", err)
	}
	if _, err := c2.GetRun(t.Context(), 403); err == nil {
		t.Error("account 2 read account 1's run 403")
	}
}
