package devcloud

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSteps(t *testing.T) {
	tests := []struct {
		name      string
		files     []string
		status    int
		wantSteps []string // the command of each dbt step after deps
		docs, src bool
		defaults  []string // the default (last step's) artifact list
	}{
		{"all", nil, statusSuccess, []string{"source freshness", "build", "docs generate"}, true, true, []string{"catalog.json", "manifest.json", "run_results.json"}},
		{"no sources", []string{"manifest.json", "run_results.json", "catalog.json"}, statusSuccess, []string{"build", "docs generate"}, true, false, []string{"catalog.json", "manifest.json", "run_results.json"}},
		{"build only", []string{"manifest.json", "run_results.json"}, statusSuccess, []string{"build"}, false, false, []string{"manifest.json", "run_results.json"}},
		{"errored", nil, statusError, []string{"source freshness", "build", "docs generate"}, true, true, []string{"catalog.json", "manifest.json", "run_results.json"}},
		{"cancelled stops at build", nil, statusCancelled, []string{"source freshness", "build"}, false, true, []string{"manifest.json", "run_results.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := testServer(t, Config{ArtifactsDir: testArtifacts(t, tt.files...), RunStatus: tt.status})
			_, v := getJSON(t, srv, `/api/v2/accounts/1/runs/400/?include_related=["run_steps"]`, "Token "+testToken)
			var run struct {
				Status   int  `json:"status"`
				Docs     bool `json:"has_docs_generated"`
				Src      bool `json:"has_sources_generated"`
				RunSteps []struct {
					Index  int    `json:"index"`
					Name   string `json:"name"`
					Status int    `json:"status"`
				} `json:"run_steps"`
			}
			b, _ := json.Marshal(dig(v, "data"))
			if err := json.Unmarshal(b, &run); err != nil {
				t.Fatal(err)
			}
			if run.Status != tt.status || run.Docs != tt.docs || run.Src != tt.src || len(run.RunSteps) != 3+len(tt.wantSteps) {
				t.Fatalf("run = status %d docs %v sources %v, %d steps; want %d %v %v %d", run.Status, run.Docs, run.Src, len(run.RunSteps), tt.status, tt.docs, tt.src, 3+len(tt.wantSteps))
			}
			for i, cmd := range tt.wantSteps {
				st := run.RunSteps[3+i]
				if st.Index != 4+i || st.Name != "Invoke dbt with `dbt "+cmd+"`" {
					t.Errorf("step %d = %d %q, want dbt %s", 4+i, st.Index, st.Name, cmd)
				}
				if wantStatus := map[bool]int{true: tt.status, false: statusSuccess}[cmd == "build"]; st.Status != wantStatus {
					t.Errorf("step %q status = %d, want %d", cmd, st.Status, wantStatus)
				}
			}
			_, l := getJSON(t, srv, "/api/v2/accounts/1/runs/400/artifacts/", "Token "+testToken)
			b, _ = json.Marshal(dig(l, "data"))
			if got, want := string(b), `["`+strings.Join(tt.defaults, `","`)+`"]`; got != want {
				t.Errorf("default artifacts = %s, want %s", got, want)
			}
		})
	}
}

func TestDocsRunResults(t *testing.T) {
	s, _ := testServer(t, Config{})
	arts, err := s.layout(s.cfg.ArtifactsDir, s.accounts[0].jobs[0])
	if err != nil {
		t.Fatal(err)
	}
	b := arts[len(arts)-1].synth["run_results.json"]
	var rr struct {
		Metadata map[string]any `json:"metadata"`
		Results  []any          `json:"results"`
		Args     map[string]any `json:"args"`
	}
	if err := json.Unmarshal(b, &rr); err != nil {
		t.Fatalf("docs run_results.json: %v", err)
	}
	if rr.Args["which"] != "generate" || rr.Args["select"] == nil || rr.Results == nil || len(rr.Results) != 0 {
		t.Errorf("docs run_results args = %v, results = %v", rr.Args, rr.Results)
	}
	if rr.Metadata["invocation_id"] == "b" || rr.Metadata["dbt_schema_version"] != "https://schemas.getdbt.com/dbt/run-results/v6.json" {
		t.Errorf("docs run_results metadata = %v, want the build's with a new invocation_id", rr.Metadata)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no token", Config{ArtifactsDir: dir}},
		{"no folder", Config{Token: "t"}},
		{"missing folder", Config{Token: "t", ArtifactsDir: dir + "/nope"}},
		{"bad status", Config{Token: "t", ArtifactsDir: dir, RunStatus: 3}},
		{"webhook without secret", Config{Token: "t", ArtifactsDir: dir, WebhookURL: "http://x"}},
		{"too many extra runs", Config{Token: "t", ArtifactsDir: dir, RunID: 5, ExtraRuns: 5}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("New(%s) = nil error, want one", tt.name)
		}
	}
}
