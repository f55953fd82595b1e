package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/service"
)

// TestReplay harvests a run from its webhook, replays DBT_RUNS and checks
// that a second generation of the harvest closes on DBT_METADATA.
func TestReplay(t *testing.T) {
	ctx := t.Context()
	p := startPipeline(t, service.Roles{Receiver: true, Fetcher: true, Normalizer: true})
	cloud := p.setWorld(t, account(testArtifacts(t), 0, true, true,
		devcloud.WebhookSpec{Name: "harvester", URL: p.hookURL, Secret: testSecret}))
	run := cloud.AddRun(devcloud.RunSpec{JobID: testJob})
	if err := cloud.CompleteRun(ctx, run, 10); err != nil {
		t.Fatalf("CompleteRun: %v", err)
	}
	if first := closings(t, p.js, 1)[0]; first.Run.RunID != run || first.Generation != 1 {
		t.Fatalf("webhook harvest = run %d generation %d, want run %d generation 1", first.Run.RunID, first.Generation, run)
	}
	runs, err := p.js.Stream(ctx, events.StreamRuns)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := runs.Info(ctx)
	original := lastCompleted(t, runs, before.State.LastSeq)

	out, _, err := harvester(ctx, p.env(), "replay", "--since", "1h")
	if err != nil || !strings.Contains(out, "replayed 1 completed run event") {
		t.Fatalf("replay = %v\n%s", err, out)
	}
	second := closings(t, p.js, 2)[1]
	if second.Run.RunID != run || second.Generation <= 1 {
		t.Fatalf("replayed harvest = run %d generation %d, want run %d generation > 1", second.Run.RunID, second.Generation, run)
	}

	after, _ := runs.Info(ctx)
	msg, err := runs.GetMsg(ctx, after.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Decode(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	wantID := fmt.Sprintf("%s/g%d", original.ID(), second.Generation)
	if got := msg.Header.Get(jetstream.MsgIDHeader); got != wantID || ev.ID() != wantID {
		t.Errorf("replayed Nats-Msg-Id %q, event ID %q; want %q", got, ev.ID(), wantID)
	}
	if g := fmt.Sprint(ev.Extensions()[events.ExtGeneration]); g != strconv.Itoa(second.Generation) {
		t.Errorf("extension %s = %s, want %d", events.ExtGeneration, g, second.Generation)
	}
	if !bytes.Equal(ev.Data(), original.Data()) {
		t.Errorf("replayed data differs:\n%s\nwant\n%s", ev.Data(), original.Data())
	}

	t.Run("by sequence, nothing in range", func(t *testing.T) {
		out, _, err := harvester(ctx, p.env(), "replay", "--from-seq", strconv.FormatUint(after.State.LastSeq+1, 10))
		if err != nil || !strings.Contains(out, "replayed 0") {
			t.Errorf("replay past the end = %v\n%s", err, out)
		}
	})
}

// lastCompleted is the last job.run.completed event at or before seq.
func lastCompleted(t *testing.T, s jetstream.Stream, seq uint64) event.Event {
	t.Helper()
	for ; seq > 0; seq-- {
		msg, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := events.Decode(msg.Data); err == nil && ev.Type() == events.TypeRunCompleted {
			return ev
		}
	}
	t.Fatal("no completed run event in DBT_RUNS")
	return event.Event{}
}
