package service_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/receiver"
	"github.com/dbt-harvester/harvester/services/internal/schematest"
	"github.com/dbt-harvester/harvester/services/internal/service"
	"github.com/dbt-harvester/harvester/services/internal/servicetest"
)

const (
	testToken  = "e2e-api-token"
	testSecret = "e2e-webhook-secret"
)

// pipeline is `harvester serve` and the dbt Cloud simulator, in process.
type pipeline struct {
	*servicetest.Pipeline
	cloud *devcloud.Server
	js    jetstream.JetStream
	logs  *lockedBuffer // every line the pipeline logged, debug included
}

// startPipeline runs serve's roles against the simulator; tweaks change the
// configuration first.
func startPipeline(t *testing.T, artifacts string, tweaks ...func(*config.Config)) *pipeline {
	t.Helper()
	var handler atomic.Pointer[http.Handler]
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(api.Close)
	cfg := config.Config{
		Accounts:       []config.Account{{ID: 1, AccessURL: api.URL, Token: testToken}},
		WebhookSecrets: []config.Secret{"old-secret", testSecret},
		Tracing:        true,
	}
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	logs := &lockedBuffer{}
	sp := servicetest.Start(t, service.Options{Config: cfg,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	cloud, err := devcloud.New(devcloud.Config{Token: testToken, ArtifactsDir: artifacts, WebhookURL: sp.HookURL,
		WebhookSecret: testSecret, WebhookBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("devcloud.New: %v", err)
	}
	h := cloud.Handler()
	handler.Store(&h)
	return &pipeline{Pipeline: sp, cloud: cloud, js: sp.JS, logs: logs}
}

// harvest collects DBT_METADATA events from the start until the harvest closes.
func (p *pipeline) harvest(t *testing.T) (assets []events.Asset, raw [][]byte, closing events.HarvestCompleted) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cons, err := p.js.OrderedConsumer(ctx, events.StreamMetadata, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("OrderedConsumer: %v", err)
	}
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
		if err != nil {
			t.Fatalf("waiting for harvest events (%d assets so far): %v", len(assets), err)
		}
		raw = append(raw, msg.Data())
		ev, err := events.Decode(msg.Data())
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		switch ev.Type() {
		case events.TypeAssetHarvested:
			a, err := events.DataAs[events.Asset](ev)
			if err != nil {
				t.Fatal(err)
			}
			if want := events.AssetSubject(a.RunRef, a.ResourceType); msg.Subject() != want {
				t.Errorf("asset %s on subject %s, want %s", a.UniqueID, msg.Subject(), want)
			}
			assets = append(assets, a)
		case events.TypeHarvestCompleted:
			if closing, err = events.DataAs[events.HarvestCompleted](ev); err != nil {
				t.Fatal(err)
			}
			return assets, raw, closing
		case events.TypeHarvestFailed:
			hf, _ := events.DataAs[events.HarvestFailed](ev)
			t.Fatalf("harvest failed: %+v", hf)
		}
	}
}

func (p *pipeline) record(t *testing.T, run int64) ledger.Record {
	t.Helper()
	kv, err := p.js.KeyValue(t.Context(), ledger.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), ledger.Key(1, run))
	if err != nil {
		t.Fatalf("DBT_HARVESTS get %s: %v", ledger.Key(1, run), err)
	}
	var rec ledger.Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func streamCounts(t *testing.T, js jetstream.JetStream) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, name := range []string{events.StreamRuns, events.StreamArtifacts, events.StreamMetadata} {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("Stream(%s): %v", name, err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out[name] = info.State.Msgs
	}
	return out
}

func postHook(t *testing.T, url string, body []byte, sig string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	req.Header.Set("Authorization", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST webhook: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	sum, err := gen.Write(dir, gen.DefaultOptions(30))
	if err != nil {
		t.Fatalf("gen.Write: %v", err)
	}
	want := 0
	for _, n := range sum.Counts {
		want += n
	}
	p := startPipeline(t, dir)
	ctx := t.Context()
	for _, typ := range []string{"job.run.started", "job.run.completed"} {
		if _, err := p.cloud.Deliver(ctx, typ); err != nil {
			t.Fatalf("Deliver(%s): %v", typ, err)
		}
	}
	assets, raw, done := p.harvest(t)

	t.Run("one event per asset", func(t *testing.T) {
		seen := map[string]bool{}
		perType := map[string]int{}
		for _, a := range assets {
			if seen[a.UniqueID] {
				t.Errorf("asset %s published twice", a.UniqueID)
			}
			seen[a.UniqueID] = true
			perType[a.ResourceType]++
			if a.AccountID != 1 || a.ProjectID != 100 || a.EnvironmentID != 200 || a.JobID != 300 || a.RunID != 400 {
				t.Fatalf("asset %s run context = %+v", a.UniqueID, a.RunRef)
			}
		}
		if len(assets) != want || done.Assets != want {
			t.Errorf("asset events = %d, harvest says %d, want %d (generated %v)", len(assets), done.Assets, want, sum.Counts)
		}
		for typ, n := range sum.Counts {
			if perType[typ] != n || done.Counts[typ] != n {
				t.Errorf("%s assets: events %d, harvest counts %d, want %d", typ, perType[typ], done.Counts[typ], n)
			}
		}
	})
	t.Run("joined catalog and results", func(t *testing.T) {
		var model *events.Asset
		for i := range assets {
			if assets[i].ResourceType == "model" && assets[i].Result != nil && len(assets[i].Columns) > 0 {
				model = &assets[i]
				break
			}
		}
		if model == nil {
			t.Fatal("no model with a result and columns")
		}
		if model.Columns[0].DataTypeSource != "catalog" || model.Columns[0].DataType == "" {
			t.Errorf("model %s column %+v: want a type from the catalog", model.UniqueID, model.Columns[0])
		}
		if done.ArtifactVersions[events.ManifestJSON] != "https://schemas.getdbt.com/dbt/manifest/v12.json" {
			t.Errorf("artifact versions = %v", done.ArtifactVersions)
		}
	})
	t.Run("one trace from webhook to harvest", func(t *testing.T) {
		last := func(stream, subject string) events.Trace {
			s, err := p.js.Stream(ctx, stream)
			if err != nil {
				t.Fatal(err)
			}
			m, err := s.GetLastMsgForSubject(ctx, subject)
			if err != nil {
				t.Fatalf("last message on %s: %v", subject, err)
			}
			ev, err := events.Decode(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			tr := events.TraceOf(ev)
			if h := m.Header.Get(events.ExtTraceParent); h != tr.Parent {
				t.Errorf("%s: traceparent header %q, event attribute %q", subject, h, tr.Parent)
			}
			return tr
		}
		run := last(events.StreamRuns, "dbt.run.1.100.200.300.completed")
		fetched := last(events.StreamArtifacts, "dbt.artifacts.1.100.200.300")
		if run.TraceID() == "" || fetched.TraceID() != run.TraceID() || fetched.Parent == run.Parent {
			t.Fatalf("run event trace %+v, artifacts event %+v: want one trace, a span each", run, fetched)
		}
		var spans []string
		for _, b := range raw {
			ev, err := events.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if tr := events.TraceOf(ev); tr.TraceID() != run.TraceID() {
				t.Fatalf("%s %s: trace %+v, want trace %s", ev.Type(), ev.ID(), tr, run.TraceID())
			} else if !slices.Contains(spans, tr.Parent) {
				spans = append(spans, tr.Parent)
			}
		}
		if len(spans) != 1 || spans[0] == fetched.Parent {
			t.Errorf("metadata events' traceparents = %v, want the normalization's one span, not the fetcher's %s", spans, fetched.Parent)
		}
	})
	t.Run("harvest recorded", func(t *testing.T) {
		if rec := p.record(t, 400); rec.Status != "completed" || rec.Assets != want || rec.Generation != 1 {
			t.Errorf("DBT_HARVESTS record = %+v, want completed with %d assets, generation 1", rec, want)
		}
	})
	t.Run("asset events and puts in atomic batches", func(t *testing.T) {
		// fsync per write (the default): the normalizer commits in atomic batches.
		for _, name := range []string{events.StreamMetadata, "KV_" + events.BucketAssets} {
			s, err := p.js.Stream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := s.GetMsg(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !s.CachedInfo().Config.AllowAtomicPublish || msg.Header.Get("Nats-Batch-Id") == "" {
				t.Errorf("%s: allow_atomic %v, first message's headers %v; want an atomic batch",
					name, s.CachedInfo().Config.AllowAtomicPublish, msg.Header)
			}
		}
	})
	t.Run("events match their schemas", func(t *testing.T) {
		v := schematest.New(t)
		for _, b := range raw {
			if err := v.Validate(b); err != nil {
				t.Fatalf("schema: %v\n%s", err, b[:min(len(b), 600)])
			}
		}
	})
	t.Run("redelivery is stored once and harvested once", func(t *testing.T) {
		before := streamCounts(t, p.js)
		runs, err := p.js.Stream(ctx, events.StreamRuns)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := runs.GetLastMsgForSubject(ctx, "dbt.run.1.100.200.300.completed")
		if err != nil {
			t.Fatal(err)
		}
		ev, err := events.Decode(stored.Data)
		if err != nil {
			t.Fatal(err)
		}
		if got := postHook(t, p.HookURL, ev.Data(), receiver.Sign([]byte(testSecret), ev.Data())); got != http.StatusOK {
			t.Fatalf("redelivery status = %d, want 200", got)
		}
		// A second completed webhook for the same run with a new eventId
		// (another subscription, say) is stored, but not harvested again.
		if _, err := p.cloud.Deliver(ctx, "job.run.completed"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		after := streamCounts(t, p.js)
		if after[events.StreamRuns] != before[events.StreamRuns]+1 {
			t.Errorf("DBT_RUNS %d -> %d, want +1 (the new eventId only)", before[events.StreamRuns], after[events.StreamRuns])
		}
		if after[events.StreamArtifacts] != before[events.StreamArtifacts] || after[events.StreamMetadata] != before[events.StreamMetadata] {
			t.Errorf("a second harvest happened: before %v after %v", before, after)
		}
	})
	t.Run("bad signature stores nothing", func(t *testing.T) {
		before := streamCounts(t, p.js)
		body := []byte(`{"accountId":1,"eventId":"wev_forged","eventType":"job.run.completed","data":{"jobId":"300","runId":"401","environmentId":"200","projectId":"100"}}`)
		if got := postHook(t, p.HookURL, body, receiver.Sign([]byte("guess"), body)); got != http.StatusUnauthorized {
			t.Errorf("forged webhook status = %d, want 401", got)
		}
		time.Sleep(500 * time.Millisecond)
		if after := streamCounts(t, p.js); after[events.StreamRuns] != before[events.StreamRuns] ||
			after[events.StreamArtifacts] != before[events.StreamArtifacts] || after[events.StreamMetadata] != before[events.StreamMetadata] {
			t.Errorf("streams changed after a forged webhook: before %v after %v", before, after)
		}
	})
	t.Run("no secret in any log line or event", func(t *testing.T) {
		noSecrets(t, p, testToken, testSecret, "old-secret")
	})
}

func TestEndToEndWithoutCatalog(t *testing.T) {
	dir := t.TempDir()
	opts := gen.DefaultOptions(12)
	opts.Catalog = false
	if _, err := gen.Write(dir, opts); err != nil {
		t.Fatalf("gen.Write: %v", err)
	}
	p := startPipeline(t, dir)
	if _, err := p.cloud.Deliver(t.Context(), "job.run.completed"); err != nil {
		t.Fatal(err)
	}
	assets, _, done := p.harvest(t)
	found := false
	for _, w := range done.Warnings {
		found = found || strings.Contains(w, `"Generate docs on run"`)
	}
	if !found {
		t.Errorf("warnings %q: want one naming \"Generate docs on run\"", done.Warnings)
	}
	typed := 0
	for _, a := range assets {
		for _, c := range a.Columns {
			if c.DataTypeSource == "catalog" {
				t.Fatalf("asset %s column %s typed from a catalog that does not exist", a.UniqueID, c.Name)
			}
			if c.DataType != "" && c.DataTypeSource == "yaml" {
				typed++
			}
		}
	}
	if typed == 0 {
		t.Error("no column carries a type from the YAML")
	}
}

func TestEndToEndMalformedManifest(t *testing.T) {
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(5)); err != nil {
		t.Fatal(err)
	}
	// Valid JSON, so the download checks pass, but not a manifest (a catalog
	// under the manifest's name): the normalizer cannot read it, whatever the retries.
	manifest := dir + "/manifest.json"
	bad := `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/catalog/v1.json"},"nodes":{},"sources":{}}`
	if err := os.WriteFile(manifest, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPipeline(t, dir)
	if _, err := p.cloud.Deliver(t.Context(), "job.run.completed"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cons, err := p.js.OrderedConsumer(ctx, events.StreamMetadata, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"dbt.metadata.*.*.*.harvest"}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
	if err != nil {
		t.Fatalf("waiting for the harvest event: %v", err)
	}
	ev, err := events.Decode(msg.Data())
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type() != events.TypeHarvestFailed {
		t.Fatalf("harvest event type = %s, want %s", ev.Type(), events.TypeHarvestFailed)
	}
	hf, err := events.DataAs[events.HarvestFailed](ev)
	if err != nil {
		t.Fatal(err)
	}
	if hf.Stage != "normalize" || !strings.Contains(hf.Reason, "manifest") || hf.Run.RunID != 400 {
		t.Errorf("harvest.failed = %+v, want stage normalize, a reason naming the manifest, run 400", hf)
	}
	schematest.Validate(t, msg.Data())
	if rec := p.record(t, 400); rec.Status != "failed" || rec.Stage != "normalize" {
		t.Errorf("DBT_HARVESTS record = %+v, want failed at normalize", rec)
	}
	// The service goes on: a webhook is still taken.
	if _, err := p.cloud.Deliver(t.Context(), "job.run.started"); err != nil {
		t.Errorf("receiver after the failed harvest: %v", err)
	}
}
