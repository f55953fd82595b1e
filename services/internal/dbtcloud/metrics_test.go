package dbtcloud_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/metrics"
)

func TestEndpoint(t *testing.T) {
	tests := []struct{ method, api, rel, want string }{
		{"GET", "v2", "runs/70403118800123/", "GET /api/v2/accounts/{id}/runs/{id}"},
		{"GET", "v2", "runs/400/artifacts/manifest.json", "GET /api/v2/accounts/{id}/runs/{id}/artifacts/{path}"},
		{"GET", "v2", "runs/400/artifacts/target/run/my_model.sql", "GET /api/v2/accounts/{id}/runs/{id}/artifacts/{path}"},
		{"GET", "v2", "runs/400/artifacts/", "GET /api/v2/accounts/{id}/runs/{id}/artifacts"},
		{"GET", "v2", "runs/", "GET /api/v2/accounts/{id}/runs"},
		{"GET", "v2", "jobs/300/", "GET /api/v2/accounts/{id}/jobs/{id}"},
		{"GET", "v2", "", "GET /api/v2/accounts/{id}"},
		{"GET", "v3", "projects/100/environments/", "GET /api/v3/accounts/{id}/projects/{id}/environments"},
		{"POST", "v3", "webhooks/subscriptions", "POST /api/v3/accounts/{id}/webhooks/subscriptions"},
		{"PUT", "v3", "webhooks/subscription/wsu_abcDEF", "PUT /api/v3/accounts/{id}/webhooks/subscription/{id}"},
		{"GET", "v3", "webhooks/subscription/wsu_abcDEF/test", "GET /api/v3/accounts/{id}/webhooks/subscription/{id}/test"},
		{"GET", "v2", "odd/12ab/", "GET /api/v2/accounts/{id}/odd/{id}"},
	}
	for _, tt := range tests {
		if got := dbtcloud.Endpoint(tt.method, tt.api, tt.rel); got != tt.want {
			t.Errorf("Endpoint(%s, %s, %q) = %q, want %q", tt.method, tt.api, tt.rel, got, tt.want)
		}
	}
}

// TestMetrics checks that the client counts each answer by endpoint and
// code, and the time it waited for a 429's cooldown.
func TestMetrics(t *testing.T) {
	ctx := t.Context()
	m := metrics.New()
	const cooldown = 300 * time.Millisecond
	c, _ := setup(t, devcloud.Config{RateLimit: 1}, dbtcloud.Options{Cooldown: cooldown, Metrics: m})
	if _, err := c.GetJob(ctx, 300); !errors.Is(err, dbtcloud.ErrRateLimited) {
		t.Fatalf("GetJob = %v, want a 429", err)
	}
	if _, err := c.GetJob(ctx, 300); err != nil {
		t.Fatalf("GetJob after the cooldown: %v", err)
	}
	if _, err := c.GetRun(ctx, 999999); !errors.Is(err, dbtcloud.ErrNotFound) {
		t.Fatalf("GetRun(unknown) = %v, want not found", err)
	}
	want := `
# HELP harvester_dbt_api_requests_total dbt Cloud API requests, by endpoint (method and route template) and HTTP status code ("error": no answer).
# TYPE harvester_dbt_api_requests_total counter
harvester_dbt_api_requests_total{code="200",endpoint="GET /api/v2/accounts/{id}/jobs/{id}"} 1
harvester_dbt_api_requests_total{code="404",endpoint="GET /api/v2/accounts/{id}/runs/{id}"} 1
harvester_dbt_api_requests_total{code="429",endpoint="GET /api/v2/accounts/{id}/jobs/{id}"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "harvester_dbt_api_requests_total"); err != nil {
		t.Error(err)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	waited := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "harvester_dbt_api_wait_seconds_total" {
			waited = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if waited <= 0 || waited > cooldown.Seconds() {
		t.Errorf("harvester_dbt_api_wait_seconds_total = %v, want the part of the %v cooldown the second request waited (> 0)", waited, cooldown)
	}
}
