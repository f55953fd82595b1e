package devcloud

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const testToken = "dbtc_simulator-test-token"

// testArtifacts writes a small target/ folder; which names the files.
func testArtifacts(t *testing.T, which ...string) string {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{
		"manifest.json":    `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/manifest/v12.json"},"nodes":{}}`,
		"run_results.json": `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/run-results/v6.json","invocation_id":"b","generated_at":"2026-01-01T00:00:00Z"},"results":[{"unique_id":"model.a.b","timing":[{"name":"execute"}],"status":"success"}],"elapsed_time":12.5,"args":{"which":"build","select":["a","b"]}}`,
		"catalog.json":     `{"metadata":{},"nodes":{},"sources":{}}`,
		"sources.json":     `{"metadata":{},"results":[]}`,
	}
	if len(which) == 0 {
		which = []string{"manifest.json", "run_results.json", "catalog.json", "sources.json"}
	}
	for _, name := range which {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(all[name]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	cfg.Token = testToken
	if cfg.ArtifactsDir == "" {
		cfg.ArtifactsDir = testArtifacts(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

// getJSON GETs path with the token and decodes the body generically.
func getJSON(t *testing.T, srv *httptest.Server, path, auth string) (int, any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
	return resp.StatusCode, v
}

func fixture(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reference", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// shapeDiff lists the keys of want that got lacks and the values whose JSON
// types differ; null on either side matches any type (dbt's nullable
// fields), and every element of a got array is checked against want's first.
func shapeDiff(path string, want, got any) []string {
	if want == nil || got == nil {
		return nil
	}
	if jsonType(want) != jsonType(got) {
		return []string{fmt.Sprintf("%s: %s in the real response, %s in the simulator's", path, jsonType(want), jsonType(got))}
	}
	var diffs []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing in the simulator's response", path, k))
				continue
			}
			diffs = append(diffs, shapeDiff(path+"."+k, wv, gv)...)
		}
	case []any:
		if len(w) == 0 {
			return nil
		}
		for i, gv := range got.([]any) {
			diffs = append(diffs, shapeDiff(fmt.Sprintf("%s[%d]", path, i), w[0], gv)...)
		}
	}
	slices.Sort(diffs)
	return diffs
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// realErrorBody is the 401 dbt returns for a bad token, "captured against the
// live API" by OpenMetadata's tests (reference S23).
const realErrorBody = `{"status":{"code":401,"is_success":false,"user_message":"Invalid token.","developer_message":null},"data":null}`

func TestFidelity(t *testing.T) {
	_, srv := testServer(t, Config{ExtraRuns: 3})
	_, cancelled := testServer(t, Config{RunStatus: statusCancelled})
	var realErr any
	if err := json.Unmarshal([]byte(realErrorBody), &realErr); err != nil {
		t.Fatal(err)
	}
	realRun := fixture(t, "run_get_response.json")
	bearer, token := "Bearer "+testToken, "Token "+testToken
	tests := []struct {
		name     string
		srv      *httptest.Server
		path     string
		auth     string
		wantCode int
		real     any
		pick     func(any) any // the part of the simulator's body to compare; nil = all
	}{
		{"get run", srv, "/api/v2/accounts/1/runs/400/", token, 200, realRun, nil},
		{"get cancelled run", cancelled, "/api/v2/accounts/1/runs/400/", bearer, 200, fixture(t, "run_cancel_response.json"), nil},
		{"get run with steps and job", srv, `/api/v2/accounts/1/runs/400/?include_related=["run_steps","job"]`, bearer, 200, fixture(t, "airflow_job_run.json"), nil},
		{"related job", srv, `/api/v2/accounts/1/runs/400/?include_related=["job"]`, bearer, 200, dig(fixture(t, "job_get_response.json"), "data"), func(v any) any { return dig(v, "data", "job") }},
		{"get job", srv, "/api/v2/accounts/1/jobs/300/", bearer, 200, fixture(t, "job_get_response.json"), nil},
		{"list runs: items", srv, "/api/v2/accounts/1/runs/?limit=2&offset=1", bearer, 200, map[string]any{"data": []any{dig(realRun, "data")}, "status": dig(realRun, "status")}, nil},
		{"list runs: extra", srv, "/api/v2/accounts/1/runs/", bearer, 200, map[string]any{ // the spec's Extra, required keys
			"filters": map[string]any{}, "order_by": "id", "pagination": map[string]any{"count": 5.0, "total_count": 10.0},
		}, func(v any) any { return dig(v, "extra") }},
		{"list artifacts", srv, "/api/v2/accounts/1/runs/400/artifacts/", bearer, 200, fixture(t, "run_list_artifacts_response.json"), nil},
		{"bad token", srv, "/api/v2/accounts/1/runs/400/", "Token nope", 401, realErr, nil},
		{"no prefix", srv, "/api/v2/accounts/1/runs/400/", testToken, 401, realErr, nil},
		{"absent artifact", srv, "/api/v2/accounts/1/runs/400/artifacts/sources.json", bearer, 404, realErr, nil},
		{"unknown run", srv, "/api/v2/accounts/1/runs/9/", bearer, 404, realErr, nil},
		{"wrong account", srv, "/api/v2/accounts/2/runs/400/", bearer, 403, realErr, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, got := getJSON(t, tt.srv, tt.path, tt.auth)
			if code != tt.wantCode {
				t.Fatalf("GET %s = %d, want %d", tt.path, code, tt.wantCode)
			}
			if tt.pick != nil {
				got = tt.pick(got)
			}
			for _, d := range shapeDiff("", tt.real, got) {
				t.Error(d)
			}
			if c := dig(got, "status", "code"); c != nil && c != float64(tt.wantCode) {
				t.Errorf("status.code = %v, want %d", c, tt.wantCode)
			}
		})
	}
}

// TestShapeDiffCatches makes sure the comparison is not vacuous.
func TestShapeDiffCatches(t *testing.T) {
	want := map[string]any{"id": 1.0, "x": map[string]any{"y": "s"}, "l": []any{map[string]any{"a": true}}, "n": nil}
	got := map[string]any{"id": "1", "x": map[string]any{}, "l": []any{map[string]any{"a": 1.0}}, "n": 3.0}
	if d := shapeDiff("", want, got); len(d) != 3 {
		t.Errorf("shapeDiff found %d differences, want 3: %q", len(d), d)
	}
}
