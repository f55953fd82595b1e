package service

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/receiver"
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
	store := t.TempDir()
	cfg := config.Config{
		Accounts:       []config.Account{{ID: 1, AccessURL: api.URL, Token: testToken}},
		WebhookSecrets: []config.Secret{testSecret},
		HTTPAddr:       "127.0.0.1:0",
		NATS:           natsconn.Options{StoreDir: store, Listen: "127.0.0.1:-1"},
	}
	start := func() (Info, context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		ready, done := make(chan Info, 1), make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Config: cfg, Roles: Roles{Receiver: true, Fetcher: true, Normalizer: true}, Ready: func(i Info) { ready <- i }})
		}()
		select {
		case i := <-ready:
			return i, cancel, done
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("Run not ready")
		}
		return Info{}, cancel, done
	}

	info, stop, done := start()
	body := []byte(`{"accountId":1,"webhookId":"wsu_1","eventId":"wev_restart","timestamp":"2026-03-02T06:00:09Z","eventType":"job.run.completed","webhookName":"h","data":{"jobId":"300","runId":"400","environmentId":"200","projectId":"100","runStatus":"Success","runStatusCode":10}}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+info.HTTPAddr.String()+dbtcloud.WebhookPath, bytes.NewReader(body))
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
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after stop = %v, want nil", err)
	}

	info, stop, done = start()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run after the second stop = %v", err)
		}
	}()
	nc, err := nats.Connect(info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cons, err := js.OrderedConsumer(t.Context(), events.StreamMetadata, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"dbt.metadata.*.*.*.harvest"}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(45 * time.Second))
	if err != nil {
		t.Fatalf("no harvest after the restart: %v", err)
	}
	ev, err := events.Decode(msg.Data())
	if err != nil || ev.Type() != events.TypeHarvestCompleted {
		t.Fatalf("harvest event %v (%v), want %s", ev.Type(), err, events.TypeHarvestCompleted)
	}
	// Exactly one harvest of the run, however the stop fell.
	s, err := js.Stream(t.Context(), events.StreamArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Info(t.Context()); info.State.Msgs != 1 {
		t.Errorf("DBT_ARTIFACTS messages = %d, want 1", info.State.Msgs)
	}
}
