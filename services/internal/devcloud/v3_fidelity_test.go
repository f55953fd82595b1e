package devcloud

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
)

// specSchemas reads the components/schemas of dbt's OpenAPI v3 spec.
func specSchemas(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus.Reference(t), "dbt-cloud-api", "dbt-cloud-openapi-spec", "openapi-v3.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return dig(doc, "components", "schemas").(map[string]any)
}

// docsOnly are, per schema, keys and types dbt's docs show but the spec
// does not: created_at/updated_at/hmac_secret are in the docs' samples
// only; the docs (and the Terraform provider's reader) give job_ids as
// strings and account_id as a string where the spec says integers; the
// docs' statuses carry is_success and messages; the docs' test answer has
// verification_status_code and verification_error.
var docsOnly = map[string]map[string]string{
	"Subscription":                 {"created_at": "string", "updated_at": "string", "hmac_secret": "string", "account_id": "string", "job_ids[]": "string"},
	"WebhookResponseStatus":        {"is_success": "boolean", "user_message": "string", "developer_message": "string"},
	"TestSubscriptionResponseData": {"verification_status_code": "string", "verification_error": "string"},
}

// checkSchema compares an object with a spec schema: every required key
// present, every key known (or docs-only), and each value's JSON type the
// spec's (null allowed where our simulator has no value).
func checkSchema(t *testing.T, schemas map[string]any, name string, got any) {
	t.Helper()
	sch := schemas[name].(map[string]any)
	props, _ := sch["properties"].(map[string]any)
	obj, ok := got.(map[string]any)
	if !ok {
		t.Errorf("%s: got %s, want an object", name, jsonType(got))
		return
	}
	req, _ := sch["required"].([]any)
	for _, k := range req {
		if _, ok := obj[k.(string)]; !ok {
			t.Errorf("%s: required key %q missing", name, k)
		}
	}
	for k, v := range obj {
		p, known := props[k].(map[string]any)
		want, docs := docsOnly[name][k]
		switch {
		case !known && !docs:
			t.Errorf("%s: key %q is not in the spec", name, k)
			continue
		case v == nil:
			continue
		case docs:
		case p["type"] != nil:
			want = map[string]string{"integer": "number", "number": "number", "string": "string", "boolean": "boolean", "array": "array", "object": "object"}[p["type"].(string)]
		case p["$ref"] != nil:
			ref := strings.TrimPrefix(p["$ref"].(string), "#/components/schemas/")
			if s, _ := schemas[ref].(map[string]any); s["properties"] != nil {
				checkSchema(t, schemas, ref, v)
			}
			continue
		default:
			continue
		}
		if jsonType(v) != want {
			t.Errorf("%s.%s: %s, want %s", name, k, jsonType(v), want)
		}
		if k == "job_ids" {
			for _, id := range v.([]any) {
				if jsonType(id) != docsOnly[name]["job_ids[]"] {
					t.Errorf("%s.job_ids item: %s", name, jsonType(id))
				}
			}
		}
	}
}

func doJSON(t *testing.T, srv *httptest.Server, method, path, body string) (int, any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, v
}

func TestV3Fidelity(t *testing.T) {
	schemas := specSchemas(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(202) }))
	defer hook.Close()
	_, srv := testServer(t, Config{})
	const base = "/api/v3/accounts/1/"
	code, created := doJSON(t, srv, "POST", base+"webhooks/subscriptions",
		`{"name":"h","description":"d","client_url":"`+hook.URL+`","event_types":["job.run.completed"],"job_ids":[300],"active":true}`)
	if code != 201 || dig(created, "status", "code") != 201.0 {
		t.Fatalf("create = %d %v", code, created)
	}
	id := dig(created, "data", "id").(string)
	checkSchema(t, schemas, "CreateSubscriptionResponseEnvelope", created)
	if s, _ := dig(created, "data", "hmac_secret").(string); len(s) < 16 {
		t.Errorf("create: hmac_secret %q", s)
	}
	for _, tt := range []struct {
		method, path, schema string
	}{
		{"GET", base + "webhooks/subscription/" + id, "SubscriptionResponseEnvelope"},
		{"GET", base + "webhooks/subscriptions", "PaginatedWebhooksSubscriptions"},
		{"GET", base + "webhooks/subscription/" + id + "/test", "TestSubscriptionResponseEnvelope"},
		{"PUT", base + "webhooks/subscription/" + id, "UpdateSubscriptionResponseEnvelope"},
		{"GET", base + "projects/", "ProjectListEnveloped"},
		{"GET", base + "projects/100/environments/", "EnvironmentV3ListEnveloped"},
		{"DELETE", base + "webhooks/subscription/" + id, "DeleteSubscriptionResponseEnvelope"},
		{"GET", base + "webhooks/subscription/" + id, "NotFound"},
	} {
		t.Run(tt.method+" "+tt.schema, func(t *testing.T) {
			body := ""
			if tt.method == "PUT" {
				body = `{"name":"h2","client_url":"` + hook.URL + `","event_types":["job.run.completed","job.run.errored"],"job_ids":[],"active":false}`
			}
			code, got := doJSON(t, srv, tt.method, tt.path, body)
			if want := map[bool]int{true: 404, false: 200}[tt.schema == "NotFound"]; code != want {
				t.Fatalf("%s %s = %d, want %d", tt.method, tt.path, code, want)
			}
			checkSchema(t, schemas, tt.schema, got)
			if items, ok := dig(got, "data").([]any); ok {
				item := map[string]string{"PaginatedWebhooksSubscriptions": "Subscription", "ProjectListEnveloped": "ProjectResponse", "EnvironmentV3ListEnveloped": "EnvironmentV3Response"}[tt.schema]
				for _, it := range items {
					checkSchema(t, schemas, item, it)
				}
				if len(items) == 0 {
					t.Errorf("%s: no items", tt.path)
				}
			}
		})
	}
}

// TestCatalogFidelity compares the new v2 reads with captured responses.
func TestCatalogFidelity(t *testing.T) {
	_, srv := testServer(t, Config{})
	for _, tt := range []struct{ path, fixture string }{
		{"/api/v2/accounts/1/", "account_get_response.json"},
		{"/api/v2/accounts/1/jobs/", "job_list_response.json"},
		{"/api/v2/accounts/1/projects/", "project_list_response.json"},
		{"/api/v2/accounts/1/environments/", "environment_list_response.json"},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			code, got := getJSON(t, srv, tt.path, "Token "+testToken)
			if code != 200 {
				t.Fatalf("GET %s = %d", tt.path, code)
			}
			real := fixture(t, tt.fixture)
			if strings.HasSuffix(tt.fixture, "list_response.json") {
				delete(real.(map[string]any), "extra") // job_list_response.json has none; others are checked by TestFidelity's shape
			}
			for _, d := range shapeDiff("", real, got) {
				if !strings.Contains(d, "missing") || !nested(d) {
					t.Error(d)
				}
			}
		})
	}
}

// nested reports whether a missing key is inside an object the simulator
// leaves null-free and empty on purpose: connection and repository details
// of projects and environments, which the harvester never reads.
func nested(d string) bool {
	return strings.Contains(d, ".connection.") || strings.Contains(d, ".repository.")
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	arts := testArtifacts(t)
	if err := os.Symlink(arts, filepath.Join(dir, "target")); err != nil {
		t.Fatal(err)
	}
	y := `token: dbtc_from-file
faults: {rate_limit: 1, retry_after: 2, artifact_delay: 3s}
accounts:
  - id: 7
    name: Acme
    webhooks: [{name: h, url: "http://127.0.0.1:1/h", secret: s, event_types: [job.run.completed]}]
    projects:
      - id: 70
        name: analytics
        environments:
          - id: 700
            name: Production
            deployment_type: production
            jobs:
              - id: 7000
                execute_steps: [dbt run, dbt test]
                generate_docs: true
                artifacts: target
                runs: [{id: 9}, {id: 10, status: 20, faults: {ignore_step: true}}]
          - {id: 701, name: Dev, type: development}
`
	path := filepath.Join(dir, "world.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	cfg := Config{RateLimit: 0, RetryAfter: 5}
	if err := f.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Token != "dbtc_from-file" || cfg.RateLimit != 1 || cfg.RetryAfter != 5 || cfg.ArtifactDelay.Seconds() != 3 {
		t.Errorf("Apply = token set %v, rate limit %d, retry after %d, delay %v", cfg.Token != "", cfg.RateLimit, cfg.RetryAfter, cfg.ArtifactDelay)
	}
	cfg.RateLimit, cfg.ArtifactDelay = 0, 0
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(file world): %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	code, v := getJSON(t, srv, `/api/v2/accounts/7/runs/10/?include_related=["run_steps","job"]`, "Token dbtc_from-file")
	if code != 200 || dig(v, "data", "job", "execute_steps") == nil || len(dig(v, "data", "run_steps").([]any)) != 6 {
		t.Errorf("run 10 = %d %v", code, v)
	}
	if subs := s.Subscriptions(); len(subs) != 1 || subs[0].AccountID != 7 || !slices.Equal(subs[0].EventTypes, []string{EventRunCompleted}) {
		t.Errorf("Subscriptions() = %+v", subs)
	}
	bad := bytes.ReplaceAll([]byte(y), []byte("execute_steps"), []byte("execute_stepz"))
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil {
		t.Error("LoadFile with an unknown field = nil error")
	}
}
