package service_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/receiver"
	"github.com/dbt-harvester/harvester/services/internal/service"
	"github.com/dbt-harvester/harvester/services/internal/servicetest"
)

// A webhook accepted just before a shutdown is harvested after the restart:
// "accepted" means on disk, and the unacked run event is redelivered.
func TestNothingAcceptedIsLostAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(8)); err != nil {
		t.Fatal(err)
	}
	// A slow dbt Cloud: the fetcher is mid-run when the service stops.
	cloud, err := devcloud.New(devcloud.Config{Token: testToken, ArtifactsDir: dir, Latency: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(cloud.Handler())
	defer api.Close()
	opts := service.Options{Config: config.Config{
		Accounts:       []config.Account{{ID: 1, AccessURL: api.URL, Token: testToken}},
		WebhookSecrets: []config.Secret{testSecret},
		NATS:           natsconn.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1"},
	}}
	p := servicetest.Start(t, opts)
	body := []byte(`{"accountId":1,"webhookId":"wsu_1","eventId":"wev_restart","timestamp":"2026-03-02T06:00:09Z","eventType":"job.run.completed","webhookName":"h","data":{"jobId":"300","runId":"400","environmentId":"200","projectId":"100","runStatus":"Success","runStatusCode":10}}`)
	req, _ := http.NewRequest(http.MethodPost, p.HookURL, bytes.NewReader(body))
	req.Header.Set("Authorization", receiver.Sign([]byte(testSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook status = %d, want 202", resp.StatusCode)
	}
	time.Sleep(100 * time.Millisecond) // the fetcher has the message and waits on dbt Cloud
	if err := p.Stop(); err != nil {
		t.Fatalf("Run after stop = %v, want nil", err)
	}

	p = servicetest.Start(t, opts) // the same store
	ev := p.NextHarvest(t, 45*time.Second)
	if ev.Type() != events.TypeHarvestCompleted {
		t.Fatalf("harvest event %v, want %s", ev.Type(), events.TypeHarvestCompleted)
	}
	js := p.JS
	// Exactly one harvest of the run, however the stop fell.
	s, err := js.Stream(t.Context(), events.StreamArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Info(t.Context()); info.State.Msgs != 1 {
		t.Errorf("DBT_ARTIFACTS messages = %d, want 1", info.State.Msgs)
	}
}
