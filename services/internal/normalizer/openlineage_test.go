package normalizer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
	"github.com/dbt-harvester/harvester/services/internal/openlineage"
)

// TestHarvestPublishesOpenLineage: a harvest publishes its OpenLineage run
// events on DBT_OPENLINEAGE, in order, after the asset events and before the
// harvest event, with deterministic message IDs (a second harvest of the
// same generation adds nothing); the SQL facet carries the compiled code
// while the asset events do not (IncludeCode off).
func TestHarvestPublishesOpenLineage(t *testing.T) {
	ctx := t.Context()
	js, store, kv := stores(t)
	dir := t.TempDir()
	opts := gen.DefaultOptions(3)
	opts.FailingTests = 1
	if _, err := gen.Write(dir, opts); err != nil {
		t.Fatal(err)
	}
	ref := events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 77}
	start, end := time.Date(2026, 1, 15, 5, 59, 0, 0, time.UTC), time.Date(2026, 1, 15, 6, 10, 0, 0, time.UTC)
	fetched := events.ArtifactsFetched{Run: events.RunFacts{RunRef: ref, Status: "Success", StartedAt: &start, FinishedAt: &end},
		Generation: 1}
	files := map[string][]byte{}
	for _, name := range []string{events.ManifestJSON, events.RunResultsJSON, events.CatalogJSON} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
		storeArtifacts(t, store, &fetched, doc{name, b})
	}
	olOpts := openlineage.Options{DatasetNamespace: "postgres://db:5432"}
	n := &Normalizer{JS: js, Store: store, KV: kv, OpenLineage: olOpts}
	if _, err := n.Harvest(ctx, fetched); err != nil {
		t.Fatal(err)
	}

	// What the events should be: the same artifacts through the package alone.
	want, _, _, err := openlineage.FromArtifacts(ctx, normalize.Input{Manifest: bytes.NewReader(files[events.ManifestJSON]),
		RunResults: bytes.NewReader(files[events.RunResultsJSON]), Catalog: bytes.NewReader(files[events.CatalogJSON])},
		openlineage.Harvest{Run: fetched.Run, Generation: 1}, olOpts)
	if err != nil {
		t.Fatal(err)
	}
	var wantIDs []string
	for _, e := range want {
		wantIDs = append(wantIDs, events.OpenLineageID(ref, 1, cmpOrString(e.Node, "run"), e.RunEvent.EventType))
	}

	msgs := readStream(ctx, t, js, events.StreamOpenLineage)
	var gotIDs []string
	var sqlFacets int
	for _, m := range msgs {
		ev, err := events.Decode(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type() != events.TypeOpenLineageRun || ev.DataSchema() != events.OpenLineageRunEventSchema ||
			m.Headers().Get(jetstream.MsgIDHeader) != ev.ID() || m.Subject() != events.OpenLineageSubject(ref) {
			t.Errorf("message %s: type %s dataschema %s msg-id %s subject %s", ev.ID(), ev.Type(), ev.DataSchema(),
				m.Headers().Get(jetstream.MsgIDHeader), m.Subject())
		}
		gotIDs = append(gotIDs, ev.ID())
		if strings.Contains(string(ev.Data()), `"sql":{`) {
			sqlFacets++
		}
	}
	if !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("DBT_OPENLINEAGE holds\n%s\nwant\n%s", strings.Join(gotIDs, "\n"), strings.Join(wantIDs, "\n"))
	}
	if sqlFacets == 0 {
		t.Error("no event has the SQL facet")
	}

	// Order: assets, then OpenLineage, then the harvest event.
	meta := readStream(ctx, t, js, events.StreamMetadata)
	if len(meta) < 2 || len(msgs) == 0 {
		t.Fatalf("%d metadata and %d OpenLineage messages", len(meta), len(msgs))
	}
	lastAsset, harvest, firstOL, lastOL := stamp(t, meta[len(meta)-2]), stamp(t, meta[len(meta)-1]), stamp(t, msgs[0]), stamp(t, msgs[len(msgs)-1])
	if firstOL.Before(lastAsset) || harvest.Before(lastOL) {
		t.Errorf("stored at: last asset %v, OpenLineage %v..%v, harvest %v; want them in this order", lastAsset, firstOL, lastOL, harvest)
	}
	for _, m := range meta {
		if strings.Contains(string(m.Data()), `"compiled_code"`) {
			t.Errorf("%s carries compiled code without IncludeCode", m.Subject())
			break
		}
	}

	if _, err := n.Harvest(ctx, fetched); err != nil { // a redelivered artifacts event
		t.Fatal(err)
	}
	if again := readStream(ctx, t, js, events.StreamOpenLineage); len(again) != len(msgs) {
		t.Errorf("after the same harvest again DBT_OPENLINEAGE holds %d messages, want %d (duplicates absorbed)", len(again), len(msgs))
	}

	off := &Normalizer{JS: js, Store: store, KV: kv, NoOpenLineage: true} // HARVESTER_OPENLINEAGE=off
	fetched.Generation = 2
	done, err := off.Harvest(ctx, fetched)
	if err != nil {
		t.Fatal(err)
	}
	if again := readStream(ctx, t, js, events.StreamOpenLineage); len(again) != len(msgs) || done.Assets == 0 {
		t.Errorf("with OpenLineage off: %d assets, DBT_OPENLINEAGE holds %d messages, want %d", done.Assets, len(again), len(msgs))
	}
}

func cmpOrString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readStream reads every message of a stream.
func readStream(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string) []jetstream.Msg {
	t.Helper()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range batch.Messages() {
		out = append(out, m)
	}
	if err := batch.Error(); err != nil {
		t.Fatal(fmt.Errorf("read %s: %w", stream, err))
	}
	return out
}

func stamp(t *testing.T, m jetstream.Msg) time.Time {
	t.Helper()
	md, err := m.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	return md.Timestamp
}
