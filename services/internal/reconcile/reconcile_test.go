package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

const (
	token   = "reconcile-token"
	deadURL = "http://127.0.0.1:1/webhooks/dbt-cloud"
)

// syncBuffer is a log sink safe for the reconciler's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a simulated account whose subscription delivers to a dead URL,
// and a JetStream with the topology.
type fixture struct {
	cloud   *devcloud.Server
	js      jetstream.JetStream
	records jetstream.KeyValue
	api     string
	lost    int64 // the run whose webhook was lost
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(4)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	cloud, err := devcloud.New(devcloud.Config{WebhookBackoff: time.Millisecond, DeactivateAfter: 1, Accounts: []devcloud.AccountSpec{{
		ID: 1, Token: token, Webhooks: []devcloud.WebhookSpec{{Name: "harvester", URL: deadURL, Secret: "s"}},
		Projects: []devcloud.ProjectSpec{{ID: 100, Name: "analytics", Environments: []devcloud.EnvironmentSpec{{
			ID: 200, Name: "Production", Jobs: []devcloud.JobSpec{{ID: 300, Name: "Nightly", GenerateDocs: true, ArtifactsDir: dir,
				Runs: []devcloud.RunSpec{{ID: 1000, Status: 10, FinishedAt: now.Add(-30 * time.Hour)},
					{ID: 1001, Status: 10, FinishedAt: now.Add(-20 * time.Hour)},
					{ID: 1002, Status: 30, FinishedAt: now.Add(-10 * time.Hour)}}}},
		}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(cloud.Handler())
	t.Cleanup(api.Close)
	f := &fixture{cloud: cloud, api: api.URL}
	f.lost = cloud.AddRun(devcloud.RunSpec{JobID: 300})
	_ = cloud.CompleteRun(ctx, f.lost, 10) // the delivery fails: the webhook is lost, the subscription deactivated
	_, f.js = natstest.Run(t)
	if err := topology.Ensure(ctx, f.js, topology.Config{}); err != nil {
		t.Fatal(err)
	}
	if f.records, err = f.js.KeyValue(ctx, ledger.Bucket); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) reconciler(t *testing.T, a config.Account, log *syncBuffer) *Reconciler {
	t.Helper()
	store, err := f.js.ObjectStore(t.Context(), events.BucketArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	a.ID, a.AccessURL, a.Token = 1, f.api, token
	fe, err := fetcher.New(f.js, store, &ledger.Ledger{KV: f.records, JS: f.js}, []config.Account{a}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Reconciler{Fetcher: fe,
		Options: Options{Interval: time.Hour, Settle: time.Nanosecond, WebhookURL: deadURL},
		Log:     slog.New(slog.NewTextHandler(log, nil))}
}

// artifactRuns lists the runs of the artifacts events on DBT_ARTIFACTS.
func (f *fixture) artifactRuns(t *testing.T) []int64 {
	t.Helper()
	cons, err := f.js.OrderedConsumer(t.Context(), events.StreamArtifacts, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var runs []int64
	for msg := range batch.Messages() {
		ev, err := events.Decode(msg.Data())
		if err != nil {
			t.Fatal(err)
		}
		ref, err := events.RefOf(ev)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, ref.RunID)
	}
	return runs
}

func TestPassHarvestsLostRunsAndWarns(t *testing.T) {
	ctx := t.Context()
	f := setup(t)
	done, _ := json.Marshal(ledger.Record{Run: events.RunRef{AccountID: 1, RunID: 1000}, Generation: 1, Status: "completed"})
	if _, err := f.records.Put(ctx, ledger.Key(1, 1000), done); err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	r := f.reconciler(t, config.Account{}, &log)
	res, err := r.Pass(ctx, time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatalf("Pass: %v", err)
	}
	if res.Listed != 3 || res.Harvested != 2 || res.Failed != 0 {
		t.Errorf("Pass = %+v, want 3 listed (cancelled 1002 left out), 2 harvested (1000 was)", res)
	}
	if got, want := f.artifactRuns(t), []int64{1001, f.lost}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("artifacts events for runs %v, want %v", got, want)
	}
	if len(res.Inactive) != 1 || r.Inactive() != 1 || r.Harvested() != 2 {
		t.Errorf("inactive %v, counters inactive %d harvested %d; want 1 subscription, 1, 2", res.Inactive, r.Inactive(), r.Harvested())
	}
	if out := log.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "deactivated by dbt Cloud") {
		t.Errorf("no warning about the deactivated subscription:\n%s", out)
	}
}

func TestPassFilters(t *testing.T) {
	tests := []struct {
		name    string
		account config.Account
		want    int
	}{
		{"everything", config.Account{}, 3},
		{"job excluded by name", config.Account{Exclude: config.Selector{Jobs: []config.Match{{Name: "nightly"}}}}, 0},
		{"other project included", config.Account{Include: config.Selector{Projects: []config.Match{{ID: 999}}}}, 0},
		{"environment included by name", config.Account{Include: config.Selector{Environments: []config.Match{{Name: "Production"}}}}, 3},
	}
	f := setup(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log syncBuffer
			r := f.reconciler(t, tt.account, &log)
			res, err := r.Pass(t.Context(), time.Now().Add(-48*time.Hour))
			if err != nil || res.Listed != tt.want {
				t.Errorf("Pass = %+v, %v; want %d listed", res, err, tt.want)
			}
		})
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	f := setup(t)
	var log syncBuffer
	r := f.reconciler(t, config.Account{}, &log)
	r.Options.Interval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for r.Harvested() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if r.Harvested() < 3 {
		t.Errorf("harvested %d runs, want 3 (no DBT_HARVESTS records: each pass fetches again)", r.Harvested())
	}
}

func TestOptionsFromEnv(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    Options
		wantErr bool
	}{
		{map[string]string{}, Options{Interval: 10 * time.Minute, Lookback: 24 * time.Hour}, false},
		{map[string]string{"HARVESTER_RECONCILE_INTERVAL": "0"}, Options{Lookback: 24 * time.Hour}, false},
		{map[string]string{"HARVESTER_RECONCILE_INTERVAL": "5m", "HARVESTER_RECONCILE_LOOKBACK": "72h", "HARVESTER_WEBHOOK_URL": "https://h/webhooks/dbt-cloud"},
			Options{Interval: 5 * time.Minute, Lookback: 72 * time.Hour, WebhookURL: "https://h/webhooks/dbt-cloud"}, false},
		{map[string]string{"HARVESTER_RECONCILE_INTERVAL": "often"}, Options{}, true},
	}
	for _, tt := range tests {
		got, err := OptionsFromEnv(func(k string) string { return tt.env[k] })
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("OptionsFromEnv(%v) = %+v, %v; want %+v (error %v)", tt.env, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestOursAndTrouble(t *testing.T) {
	tests := []struct {
		sub     dbtcloud.Subscription
		url     string
		ours    bool
		trouble string
	}{
		{dbtcloud.Subscription{ClientURL: "https://H.example.com/webhooks/dbt-cloud/", Active: true}, "https://h.example.com/webhooks/dbt-cloud", true, ""},
		{dbtcloud.Subscription{ClientURL: "https://h.example.com/webhooks/dbt-cloud"}, "", true, "inactive"},
		{dbtcloud.Subscription{ClientURL: "https://zapier.example.com/hook", Active: true}, "", false, ""},
		{dbtcloud.Subscription{ClientURL: "https://h/webhooks/dbt-cloud", DeactivateReason: "5 failures", HTTPStatusCode: "503"}, "https://h/webhooks/dbt-cloud", true,
			"deactivated by dbt Cloud: 5 failures (last delivery answered 503)"},
	}
	for _, tt := range tests {
		if got := dbtcloud.Ours(tt.sub, tt.url); got != tt.ours {
			t.Errorf("Ours(%s, %q) = %v", tt.sub.ClientURL, tt.url, got)
		}
		if got := dbtcloud.Trouble(tt.sub); got != tt.trouble {
			t.Errorf("Trouble(%+v) = %q, want %q", tt.sub, got, tt.trouble)
		}
	}
}
