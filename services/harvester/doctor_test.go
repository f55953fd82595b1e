package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/doctor"
	"github.com/dbt-harvester/harvester/services/internal/service"
)

// TestDoctor runs doctor against a well-configured simulator and against
// each set-up mistake, and checks the verdict and the fix of the check
// that catches it.
func TestDoctor(t *testing.T) {
	ctx := t.Context()
	p := startPipeline(t, service.Roles{Receiver: true})
	dir := testArtifacts(t)
	deadURL := "http://127.0.0.1:1/webhooks/dbt-cloud"
	ours := devcloud.WebhookSpec{Name: "harvester", URL: p.hookURL, Secret: testSecret, EventTypes: []string{"job.run.completed"}}
	tests := []struct {
		name      string
		world     devcloud.AccountSpec
		env       []string
		prepare   func(t *testing.T, cloud *devcloud.Server)
		check     string
		status    doctor.Status
		fix       string // a part of the fix
		wantError bool
	}{
		{name: "well configured", world: account(dir, 2, true, true, ours), check: "webhook", status: doctor.Pass},
		{name: "docs off", world: account(dir, 2, false, true, ours), check: "generate_docs", status: doctor.Warn, fix: "Generate docs on run"},
		{name: "freshness off", world: account(dir, 2, true, false, ours), check: "source_freshness", status: doctor.Warn, fix: "Run source freshness"},
		{name: "subscription deactivated", world: account(dir, 2, true, true,
			devcloud.WebhookSpec{Name: "harvester", URL: deadURL, Secret: testSecret}),
			env: []string{"HARVESTER_WEBHOOK_URL", deadURL}, prepare: failDelivery,
			check: "webhook", status: doctor.Fail, fix: "reactivate", wantError: true},
		{name: "no subscription", world: account(dir, 2, true, true), check: "webhook", status: doctor.Fail,
			fix: "harvester webhook register --url " + p.hookURL, wantError: true},
		{name: "wrong token", world: account(dir, 2, true, true, ours), env: []string{"DBT_CLOUD_API_TOKEN", "wrong"},
			check: "token", status: doctor.Fail, fix: "token", wantError: true},
		{name: "retired shared host", world: account(dir, 2, true, true, ours), env: []string{"DBT_CLOUD_ACCESS_URL", "https://cloud.getdbt.com"},
			check: "access_url", status: doctor.Fail, fix: "Access URLs", wantError: true},
		{name: "nats down", world: account(dir, 2, true, true, ours), env: []string{"NATS_URL", "nats://127.0.0.1:1"},
			check: "nats", status: doctor.Fail, fix: "harvester serve", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cloud := p.setWorld(t, tt.world)
			if tt.prepare != nil {
				tt.prepare(t, cloud)
			}
			env := p.env(append([]string{"HARVESTER_WEBHOOK_URL", p.hookURL}, tt.env...)...)
			out, _, err := harvester(ctx, env, "doctor", "--json")
			if (err != nil) != tt.wantError {
				t.Errorf("doctor error = %v, want error %v\n%s", err, tt.wantError, out)
			}
			var checks []doctor.Check
			if err := json.Unmarshal([]byte(out), &checks); err != nil {
				t.Fatalf("doctor --json output: %v\n%s", err, out)
			}
			if !hasCheck(checks, tt.check, tt.status, tt.fix) {
				t.Errorf("no %s %s check with fix %q in:\n%s", tt.status, tt.check, tt.fix, out)
			}
			if tt.name == "well configured" {
				for _, c := range checks {
					if c.Status != doctor.Pass {
						t.Errorf("well configured: %+v", c)
					}
				}
			}
		})
	}
}

func hasCheck(checks []doctor.Check, check string, s doctor.Status, fix string) bool {
	for _, c := range checks {
		if c.Check == check && c.Status == s && strings.Contains(c.Fix, fix) {
			return true
		}
	}
	return false
}

// failDelivery completes a run so that the simulator's delivery to the dead
// URL fails and dbt Cloud deactivates the subscription.
func failDelivery(t *testing.T, cloud *devcloud.Server) {
	t.Helper()
	id := cloud.AddRun(devcloud.RunSpec{JobID: testJob})
	_ = cloud.CompleteRun(t.Context(), id, 10) // the delivery fails: that is the point
	deadline := time.Now().Add(10 * time.Second)
	for {
		subs := cloud.Subscriptions()
		if len(subs) == 1 && !subs[0].Active && subs[0].DeactivateReason != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription not deactivated: %+v", subs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDoctorText checks the one-line-per-check text report.
func TestDoctorText(t *testing.T) {
	var b strings.Builder
	err := printChecks(&b, []doctor.Check{
		{Account: "1", Check: "token", Status: doctor.Pass, Detail: "valid"},
		{Check: "nats", Status: doctor.Fail, Detail: "cannot connect", Fix: "start harvester serve"},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "PASS") || !strings.Contains(lines[1], "FAIL") ||
		!strings.Contains(lines[1], "fix: start harvester serve") {
		t.Errorf("text report:\n%s", b.String())
	}
}
