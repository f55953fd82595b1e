package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/receiver"
	"github.com/dbt-harvester/harvester/services/internal/service"
	"github.com/dbt-harvester/harvester/services/internal/status"
)

// TestStatus harvests a run from its webhook, fails the harvest of a run
// dbt Cloud does not know (in environment 201), and checks what `harvester
// status` reports.
func TestStatus(t *testing.T) {
	ctx := t.Context()
	p := startPipeline(t, service.Roles{Receiver: true, Fetcher: true, Normalizer: true})
	cloud := p.setWorld(t, account(testArtifacts(t), 0, true, true,
		devcloud.WebhookSpec{Name: "harvester", URL: p.hookURL, Secret: testSecret}))
	run := cloud.AddRun(devcloud.RunSpec{JobID: testJob})
	if err := cloud.CompleteRun(ctx, run, 10); err != nil {
		t.Fatalf("CompleteRun: %v", err)
	}
	done := closings(t, p.js, 1)[0]
	body := []byte(`{"accountId":1,"webhookId":"wsu_x","eventId":"wev_unknown_run","timestamp":"2026-03-02T06:14:41Z",` +
		`"eventType":"job.run.completed","webhookName":"x","data":{"jobId":"300","runId":"999999","environmentId":"201",` +
		`"projectId":"100","runStatus":"Success","runStatusCode":10}}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.hookURL, strings.NewReader(string(body)))
	req.Header.Set("Authorization", receiver.Sign([]byte(testSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook of an unknown run answered %d, want 202", resp.StatusCode)
	}
	if rec := record(t, p.js, 999999); rec.Status != "failed" {
		t.Fatalf("record of run 999999 = %+v, want failed", rec)
	}

	var rep status.Report
	deadline := time.Now().Add(15 * time.Second)
	for { // the consumers ack a moment after the records are written
		out, _, err := harvester(ctx, p.env("HARVESTER_WEBHOOK_URL", p.hookURL), "status", "--json")
		if err != nil {
			t.Fatalf("status --json: %v", err)
		}
		rep = status.Report{}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		if settled(rep) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(rep.Problems) > 0 {
		t.Errorf("problems: %v", rep.Problems)
	}
	streams := map[string]status.Stream{}
	for _, s := range rep.Streams {
		streams[s.Name] = s
	}
	for _, name := range []string{events.StreamRuns, events.StreamArtifacts, events.StreamMetadata} {
		st, err := p.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := st.Info(ctx)
		if got := streams[name]; got.Messages != info.State.Msgs || got.Bytes != info.State.Bytes || got.Messages == 0 {
			t.Errorf("stream %s = %+v, want %d messages, %d bytes", name, got, info.State.Msgs, info.State.Bytes)
		}
	}
	if len(rep.Consumers) != 2 {
		t.Errorf("consumers = %+v, want fetcher and normalizer", rep.Consumers)
	}
	for _, c := range rep.Consumers {
		if c.Pending != 0 || c.InFlight != 0 || c.Redelivered != 0 {
			t.Errorf("consumer %+v, want nothing pending or redelivered", c)
		}
	}
	last := map[int64]status.Harvest{}
	for _, h := range rep.LastHarvests {
		last[h.Run.EnvironmentID] = h
	}
	if h := last[200]; h.Outcome != "completed" || h.Run.RunID != run || h.Assets != done.Assets || h.Assets == 0 || h.AgeSeconds < 0 {
		t.Errorf("last harvest of environment 200 = %+v, want run %d completed with %d assets", h, run, done.Assets)
	}
	if h := last[201]; h.Outcome != "failed" || h.Run.RunID != 999999 || h.Stage != "fetch" || h.Reason == "" {
		t.Errorf("last harvest of environment 201 = %+v, want run 999999 failed at fetch with a reason", h)
	}
	if len(rep.Failed) != 1 || rep.FailedTotal != 1 || rep.Failed[0].Run.RunID != 999999 || !strings.Contains(rep.Failed[0].Reason, "not found") {
		t.Errorf("failed harvests = %d %+v, want run 999999 with its reason", rep.FailedTotal, rep.Failed)
	}
	if len(rep.Webhooks) != 1 || !rep.Webhooks[0].Active || rep.Webhooks[0].Trouble != "" || rep.Webhooks[0].URL != p.hookURL {
		t.Errorf("webhooks = %+v, want the one active subscription to %s", rep.Webhooks, p.hookURL)
	}

	t.Run("text", func(t *testing.T) {
		out, _, err := harvester(ctx, p.env("HARVESTER_WEBHOOK_URL", p.hookURL), "status")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"DBT_METADATA", "normalizer", "1/100/200", "completed", fmt.Sprintf("%d assets", done.Assets),
			"failed harvests (the run's latest harvest failed): 1", "999999", "not found", "active"} {
			if !strings.Contains(out, want) {
				t.Errorf("status output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("no subscription to our URL", func(t *testing.T) {
		out, _, err := harvester(ctx, p.env("HARVESTER_WEBHOOK_URL", "https://elsewhere.example.com/webhooks/dbt-cloud"), "status", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var r status.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Webhooks) != 1 || !strings.Contains(r.Webhooks[0].Trouble, "no subscription delivers to https://elsewhere.example.com") {
			t.Errorf("webhooks for another URL = %+v, want one saying none delivers there", r.Webhooks)
		}
	})
	t.Run("subscription deactivated", func(t *testing.T) {
		deadURL := "http://127.0.0.1:1/webhooks/dbt-cloud"
		cloud := p.setWorld(t, account(testArtifacts(t), 0, true, true,
			devcloud.WebhookSpec{Name: "harvester", URL: deadURL, Secret: testSecret}))
		failDelivery(t, cloud)
		out, _, err := harvester(ctx, p.env("HARVESTER_WEBHOOK_URL", deadURL), "status", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var r status.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Webhooks) != 1 || r.Webhooks[0].Active || !strings.Contains(r.Webhooks[0].Trouble, "deactivated by dbt Cloud") {
			t.Errorf("webhooks = %+v, want the subscription deactivated by dbt Cloud", r.Webhooks)
		}
	})
}

func settled(r status.Report) bool {
	for _, c := range r.Consumers {
		if c.Pending+uint64(c.InFlight) > 0 {
			return false
		}
	}
	return len(r.Consumers) > 0 && len(r.LastHarvests) == 2
}
