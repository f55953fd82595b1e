package dbtcloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

const token = "dbtu_Test-Token-0123456789abcdef"

// artifactsDir writes a small target/ folder with all four artifacts.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"manifest.json":           `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/manifest/v12.json","invocation_id":"m"},"nodes":{}}`,
		"run_results.json":        `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/run-results/v6.json","invocation_id":"b"},"results":[{"unique_id":"model.a.b","status":"success"}],"elapsed_time":12.5,"args":{"which":"build"}}`,
		"catalog.json":            `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/catalog/v1.json"},"nodes":{},"sources":{}}`,
		"sources.json":            `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/sources/v3.json"},"results":[]}`,
		"compiled/a/models/b.sql": "select 1",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// setup starts a simulator with cfg (token and artifacts filled in) and
// returns a client for it and a count of the requests it served.
func setup(t *testing.T, cfg devcloud.Config, opts dbtcloud.Options) (*dbtcloud.Client, *atomic.Int64) {
	t.Helper()
	cfg.Token = token
	if cfg.ArtifactsDir == "" {
		cfg.ArtifactsDir = artifactsDir(t)
	}
	sim, err := devcloud.New(cfg)
	if err != nil {
		t.Fatalf("devcloud.New: %v", err)
	}
	var n atomic.Int64
	h := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	opts.AccessURL = srv.URL
	opts.AccountID = cmpOr(opts.AccountID, 1)
	if opts.Token == "" {
		opts.Token = token
	}
	c, err := dbtcloud.New(opts)
	if err != nil {
		t.Fatalf("dbtcloud.New: %v", err)
	}
	return c, &n
}

func cmpOr(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}

func TestGetRun(t *testing.T) {
	c, _ := setup(t, devcloud.Config{}, dbtcloud.Options{})
	run, err := c.GetRun(t.Context(), 400)
	if err != nil {
		t.Fatalf("GetRun(400): %v", err)
	}
	if run.ID != 400 || run.AccountID != 1 || run.ProjectID != 100 || run.EnvironmentID != 200 || run.JobDefinitionID != 300 {
		t.Errorf("GetRun(400) IDs = %d %d %d %d %d, want 400 1 100 200 300", run.ID, run.AccountID, run.ProjectID, run.EnvironmentID, run.JobDefinitionID)
	}
	if run.Status != dbtcloud.StatusSuccess || !run.IsSuccess || !run.IsComplete || run.StatusHumanized != "Success" {
		t.Errorf("GetRun(400) status = %d %q success=%v complete=%v", run.Status, run.StatusHumanized, run.IsSuccess, run.IsComplete)
	}
	if !run.HasDocsGenerated || !run.HasSourcesGenerated || run.CreatedAt.IsZero() || !run.StartedAt.Before(run.FinishedAt) {
		t.Errorf("GetRun(400) = docs %v sources %v created %v started %v finished %v", run.HasDocsGenerated, run.HasSourcesGenerated, run.CreatedAt, run.StartedAt, run.FinishedAt)
	}
	if run.Trigger == nil || run.Trigger.Cause == "" {
		t.Errorf("GetRun(400).Trigger = %+v, want a cause", run.Trigger)
	}
	if run.Job == nil || run.Job.ID != 300 || !run.Job.GenerateDocs || !run.Job.RunGenerateSources || len(run.Job.ExecuteSteps) == 0 {
		t.Errorf("GetRun(400).Job = %+v", run.Job)
	}
	wantSteps := []string{"Clone", "Create Profile", "`dbt deps`", "`dbt source freshness`", "`dbt build`", "`dbt docs generate`"}
	if len(run.Steps) != len(wantSteps) {
		t.Fatalf("GetRun(400) has %d steps, want %d: %+v", len(run.Steps), len(wantSteps), run.Steps)
	}
	for i, st := range run.Steps {
		if st.Index != i+1 || !strings.Contains(st.Name, wantSteps[i]) || st.Status != dbtcloud.StatusSuccess || st.StartedAt.IsZero() || st.ID == 0 {
			t.Errorf("step %d = %+v, want index %d name containing %q", i, st, i+1, wantSteps[i])
		}
	}
	job, err := c.GetJob(t.Context(), 300)
	if err != nil || job.Name == "" || job.JobType != "scheduled" {
		t.Errorf("GetJob(300) = %+v, %v", job, err)
	}
	if _, err := c.GetRun(t.Context(), 401); !errors.Is(err, dbtcloud.ErrNotFound) {
		t.Errorf("GetRun(401) error = %v, want ErrNotFound", err)
	}
}

func TestListRunsPaging(t *testing.T) {
	tests := []struct {
		name      string
		filter    dbtcloud.RunFilter
		wantFirst int64
		wantN     int
		wantCalls int64
	}{
		{"all ascending", dbtcloud.RunFilter{JobID: 300}, 388, 13, 3},
		{"all descending", dbtcloud.RunFilter{JobID: 300, OrderBy: "-id"}, 400, 13, 3},
		{"limit inside a page", dbtcloud.RunFilter{OrderBy: "-id", Limit: 3}, 400, 3, 1},
		{"limit across pages", dbtcloud.RunFilter{OrderBy: "-id", Limit: 7}, 400, 7, 2},
		{"other job", dbtcloud.RunFilter{JobID: 301}, 0, 0, 1},
		{"status and id__gt", dbtcloud.RunFilter{Status: dbtcloud.StatusSuccess, IDGreaterThan: 395}, 396, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, calls := setup(t, devcloud.Config{ExtraRuns: 12}, dbtcloud.Options{PageSize: 5})
			runs, err := c.ListRuns(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("ListRuns(%+v): %v", tt.filter, err)
			}
			if len(runs) != tt.wantN || (tt.wantN > 0 && runs[0].ID != tt.wantFirst) {
				t.Errorf("ListRuns(%+v) = %d runs starting at %v, want %d starting at %d", tt.filter, len(runs), first(runs), tt.wantN, tt.wantFirst)
			}
			seen := map[int64]bool{}
			for _, r := range runs {
				if seen[r.ID] || r.Trigger == nil {
					t.Errorf("run %d duplicated or without trigger", r.ID)
				}
				seen[r.ID] = true
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("ListRuns(%+v) made %d requests, want %d", tt.filter, got, tt.wantCalls)
			}
		})
	}
}

func first(runs []dbtcloud.Run) any {
	if len(runs) == 0 {
		return nil
	}
	return runs[0].ID
}

func TestArtifacts(t *testing.T) {
	dir := artifactsDir(t)
	c, _ := setup(t, devcloud.Config{ArtifactsDir: dir}, dbtcloud.Options{})
	ctx := t.Context()
	lists := []struct {
		step int
		want []string
	}{
		{0, []string{"catalog.json", "compiled/a/models/b.sql", "manifest.json", "run_results.json"}},
		{4, []string{"manifest.json", "sources.json"}},
		{5, []string{"compiled/a/models/b.sql", "manifest.json", "run_results.json"}},
		{1, []string{}},
	}
	for _, tt := range lists {
		got, err := c.ListArtifacts(ctx, 400, tt.step)
		if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("ListArtifacts(400, step %d) = %q, %v; want %q", tt.step, got, err, tt.want)
		}
	}
	gets := []struct {
		path  string
		step  int
		which string // args.which of a run_results.json, "" to compare with the file on disk
	}{
		{"run_results.json", 0, "generate"}, // default = the docs step, as in dbt Cloud
		{"run_results.json", 5, "build"},
		{"manifest.json", 0, ""},
		{"catalog.json", 6, ""},
		{"sources.json", 4, ""},
		{"compiled/a/models/b.sql", 5, ""},
	}
	for _, tt := range gets {
		body, n, err := c.Artifact(ctx, 400, tt.path, tt.step)
		if err != nil {
			t.Errorf("Artifact(400, %s, %d): %v", tt.path, tt.step, err)
			continue
		}
		b, err := io.ReadAll(body)
		body.Close()
		if err != nil || int64(len(b)) != n {
			t.Errorf("Artifact(400, %s, %d) read %d bytes, %v; Content-Length %d", tt.path, tt.step, len(b), err, n)
		}
		if tt.which != "" {
			var rr struct {
				Args struct{ Which string } `json:"args"`
			}
			if err := json.Unmarshal(b, &rr); err != nil || rr.Args.Which != tt.which {
				t.Errorf("Artifact(400, %s, %d) args.which = %q, %v; want %q", tt.path, tt.step, rr.Args.Which, err, tt.which)
			}
			continue
		}
		if want, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(tt.path))); !bytes.Equal(b, want) {
			t.Errorf("Artifact(400, %s, %d) = %q, want the file %q", tt.path, tt.step, b, want)
		}
	}
	absent := []struct {
		path string
		step int
	}{{"sources.json", 0}, {"catalog.json", 5}, {"run_results.json", 3}, {"manifest.json", 9}, {"../secret", 0}}
	for _, tt := range absent {
		_, _, err := c.Artifact(ctx, 400, tt.path, tt.step)
		if !errors.Is(err, dbtcloud.ErrNotFound) && !(tt.path == "../secret" && err != nil) {
			t.Errorf("Artifact(400, %s, %d) error = %v, want ErrNotFound", tt.path, tt.step, err)
		}
		if retry.IsPermanent(err) {
			t.Errorf("Artifact(400, %s, %d) error is permanent; 404 is for the caller to judge", tt.path, tt.step)
		}
	}
}

func TestAuthErrors(t *testing.T) {
	tests := []struct {
		name      string
		opts      dbtcloud.Options
		wantCode  int
		wantInMsg string
	}{
		{"wrong token", dbtcloud.Options{Token: "dbtu_wrong-" + token}, 401, "Invalid token."},
		{"wrong account", dbtcloud.Options{AccountID: 2}, 403, "not scoped to account 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := setup(t, devcloud.Config{}, tt.opts)
			_, err := c.GetRun(t.Context(), 400)
			var apiErr *dbtcloud.APIError
			if !retry.IsPermanent(err) || !errors.As(err, &apiErr) || apiErr.StatusCode != tt.wantCode {
				t.Fatalf("GetRun error = %v, want a permanent %d", err, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("GetRun error = %q, want it to contain %q", err, tt.wantInMsg)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), tt.opts.Token) && tt.opts.Token != "" {
				t.Errorf("GetRun error shows the token: %q", err)
			}
		})
	}
}

// TestTokenNeverInErrors uses a server that echoes the token back.
func TestTokenNeverInErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"status":{"code":403,"is_success":false,"user_message":"Forbidden: `+r.Header.Get("Authorization")+`","developer_message":"`+token+`"},"data":{"account_access_denied":true}}`)
	}))
	defer srv.Close()
	c, err := dbtcloud.New(dbtcloud.Options{AccessURL: srv.URL, AccountID: 1, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetJob(t.Context(), 1)
	if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "IP restrictions") {
		t.Errorf("GetJob error = %q, want an IP-restriction hint and no token", err)
	}
	dead, err := dbtcloud.New(dbtcloud.Options{AccessURL: "http://127.0.0.1:1", AccountID: 1, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dead.GetRun(t.Context(), 1)
	if err == nil || retry.IsPermanent(err) || strings.Contains(err.Error(), token) {
		t.Errorf("GetRun on a closed port = %v, want a transient error without the token", err)
	}
}

func TestRetiredHost(t *testing.T) {
	sim, err := devcloud.New(devcloud.Config{Token: token, ArtifactsDir: artifactsDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}}}
	c, err := dbtcloud.New(dbtcloud.Options{AccessURL: "http://cloud.getdbt.com", AccountID: 1, Token: "old", HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetRun(t.Context(), 400)
	if !retry.IsPermanent(err) || !strings.Contains(err.Error(), "own access URL") {
		t.Errorf("GetRun via cloud.getdbt.com = %v, want a permanent error about the account's access URL", err)
	}
}
