package service_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/receiver"
	"github.com/dbt-harvester/harvester/services/internal/replay"
	"github.com/dbt-harvester/harvester/services/internal/schematest"
)

// TestEventDataMatchesDataSchema: CloudEvents 1.0 says dataschema names the
// schema that data adheres to. Every event type, as the running pipeline
// publishes it, has data that is valid alone, without its envelope, against
// the schema its dataschema names; and each whole message is valid against
// its type's message schema. The pipeline publishes every type here: the
// three run webhooks, a harvest that completes, a harvest that fails (a run
// dbt Cloud does not know), and a replay (run events of generation 2).
func TestEventDataMatchesDataSchema(t *testing.T) {
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(5)); err != nil {
		t.Fatalf("gen.Write: %v", err)
	}
	p := startPipeline(t, dir)
	ctx := t.Context()
	for _, typ := range []string{"job.run.started", "job.run.errored", "job.run.completed"} {
		if _, err := p.cloud.Deliver(ctx, typ); err != nil {
			t.Fatalf("Deliver(%s): %v", typ, err)
		}
	}
	unknown := []byte(`{"accountId":1,"webhookId":"wsu_test","eventId":"wev_unknownrun","timestamp":"2026-03-02T06:14:51Z",` +
		`"eventType":"job.run.completed","webhookName":"test","data":{"jobId":"300","runId":"401","environmentId":"200",` +
		`"projectId":"100","runStatus":"Success","runStatusCode":10}}`)
	if got := postHook(t, p.HookURL, unknown, receiver.Sign([]byte(testSecret), unknown)); got != http.StatusAccepted {
		t.Fatalf("webhook for run 401 status = %d, want 202", got)
	}
	waitHarvests(t, p.js, "1/400/g1/harvest", "1/401/g1/harvest")
	l, err := ledger.Open(ctx, p.js)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := replay.Replay(ctx, p.js, l, replay.Range{FromSeq: 1, Subject: events.RunSubjects}); err != nil || n != 2 {
		t.Fatalf("replay.Replay = %d, %v; want 2 runs republished", n, err)
	}
	waitHarvests(t, p.js, "1/400/g2/harvest", "1/401/g2/harvest")

	v := schematest.New(t)
	seen := map[string]int{}
	for _, stream := range []string{events.StreamRuns, events.StreamArtifacts, events.StreamMetadata} {
		for _, b := range readAll(t, p.js, stream) {
			ev, err := events.Decode(b)
			if err != nil {
				t.Fatalf("%s: %v", stream, err)
			}
			seen[ev.Type()]++
			if ev.DataSchema() != events.DataSchema(ev.Type()) {
				t.Errorf("%s %s: dataschema %s, want %s", ev.Type(), ev.ID(), ev.DataSchema(), events.DataSchema(ev.Type()))
			}
			if err := v.ValidateData(b); err != nil {
				t.Errorf("data alone: %v", err)
			}
			if err := v.Validate(b); err != nil {
				t.Errorf("whole message: %v", err)
			}
			if events.GenerationOf(ev) > 1 {
				seen["replayed "+ev.Type()]++
			}
		}
	}
	for _, typ := range []string{
		events.TypeRunStarted, events.TypeRunCompleted, events.TypeRunErrored, "replayed " + events.TypeRunCompleted,
		events.TypeArtifactsFetched, events.TypeAssetHarvested, events.TypeHarvestCompleted, events.TypeHarvestFailed,
	} {
		if seen[typ] == 0 {
			t.Errorf("the pipeline published no %s event; seen %v", typ, seen)
		}
	}
}

// waitHarvests waits until DBT_METADATA holds the harvest events of ids.
func waitHarvests(t *testing.T, js jetstream.JetStream, ids ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, events.StreamMetadata, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"dbt.metadata.*.*.*.harvest"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	missing := func(id string) bool { return !slices.Contains(got, id) }
	for slices.ContainsFunc(ids, missing) {
		msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
		if err != nil {
			t.Fatalf("waiting for harvests %v, have %v: %v", ids, got, err)
		}
		ev, err := events.Decode(msg.Data())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.ID())
	}
}

// readAll is every message stored in stream.
func readAll(t *testing.T, js jetstream.JetStream, stream string) [][]byte {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("%s message %d: %v", stream, seq, err)
		}
		out = append(out, m.Data)
	}
	return out
}
