package normalizer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

func TestKVKeyRoundTrip(t *testing.T) {
	ref := events.RunRef{AccountID: 70403103922125, ProjectID: 2, EnvironmentID: 3}
	tests := []string{
		"model.jaffle_shop.orders",
		"model.jaffle_shop.orders.v2",
		"test.p.accepted_values_orders_status__placed__shipped.be6b5b5ec3",
		"source.p.raw.my table",
		"model.p.naïve=x/y*>",
		"seed.p.a-b_c",
		"=41",
		"",
	}
	for _, uid := range tests {
		key := KVKey(ref, uid)
		if strings.Count(key, ".") != 3 {
			t.Errorf("KVKey(%q) = %q, want the unique_id as one token", uid, key)
		}
		for _, c := range key[strings.LastIndexByte(key, '.')+1:] {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '=') {
				t.Errorf("KVKey(%q) = %q holds %q", uid, key, c)
			}
		}
		if got, want := assetIDOfKey(key), events.StableAssetID(ref.AccountID, ref.ProjectID, ref.EnvironmentID, uid); got != want {
			t.Errorf("assetIDOfKey(KVKey(%q)) = %q, want %q", uid, got, want)
		}
	}
}

func TestChangedFields(t *testing.T) {
	base := `{"asset_id":"1/2/3/model.p.a","job_id":4,"run_id":5,"name":"a","description":"old","tags":["x"],` +
		`"result":{"status":"success"},"test_results":{"pass":1},"stats":{"rows":1},"change":"new"}`
	tests := []struct {
		name, cur string
		want      []string
	}{
		{"identical", base, nil},
		{"volatile only", strings.NewReplacer(`"run_id":5`, `"run_id":6`, `"job_id":4`, `"job_id":9`, `"success"`, `"error"`,
			`"pass":1`, `"fail":1`, `"rows":1`, `"rows":2`, `"new"`, `"unchanged"`).Replace(base), nil},
		{"description", strings.Replace(base, `"old"`, `"new text"`, 1), []string{"description"}},
		{"added and removed", strings.Replace(base, `"tags":["x"],`, `"owner":"ann",`, 1), []string{"owner", "tags"}},
	}
	prev, err := hashFields([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		cur, err := hashFields([]byte(tt.cur))
		if err != nil {
			t.Fatalf("hashFields(%s): %v", tt.name, err)
		}
		if got := changedFields(prev, cur); !slices.Equal(got, tt.want) {
			t.Errorf("%s: changedFields = %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := hashFields([]byte(`[1]`)); err == nil {
		t.Error("hashFields([1]) = nil error, want one")
	}
}

func TestWithChange(t *testing.T) {
	got := string(withChange([]byte(`{"a":{"b":1}}`+"\n"), "changed", []string{"description", "tags"}))
	if want := `{"a":{"b":1},"change":"changed","changed_fields":["description","tags"]}`; got != want {
		t.Errorf("withChange = %s, want %s", got, want)
	}
}

// project is a small manifest; its placeholders are replaced per harvest.
const project = `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "project_name": "p"},
 "nodes": {
  "model.p.orders": {"resource_type": "model", "name": "orders", "package_name": "p", "description": "ORDERS_DESC",
   "columns": {"id": {"name": "id", "description": "key"}}, "depends_on": {"nodes": ["source.p.raw.orders"]}},
  "model.p.customers": {"resource_type": "model", "name": "customers", "package_name": "p", "description": "Customers."},
  "test.p.not_null_orders_id.1": {"resource_type": "test", "name": "not_null_orders_id", "package_name": "p",
   "column_name": "id", "attached_node": "model.p.orders", "test_metadata": {"name": "not_null"}, "depends_on": {"nodes": ["model.p.orders"]}}
  EXTRA
 },
 "sources": {"source.p.raw.orders": {"name": "orders", "source_name": "raw", "package_name": "p", "description": ""}},
 "child_map": {}
}`

const runResults = `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json", "invocation_id": "INV"},
 "results": [{"unique_id": "model.p.orders", "status": "success", "execution_time": 1.5, "timing": []},
  {"unique_id": "test.p.not_null_orders_id.1", "status": "pass", "timing": []}]}`

func TestHarvestChanges(t *testing.T) {
	ctx := t.Context()
	_, js := natstest.Run(t)
	if err := topology.Ensure(ctx, js, topology.Config{}); err != nil {
		t.Fatalf("topology.Ensure: %v", err)
	}
	store, err := js.ObjectStore(ctx, events.BucketArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, events.BucketAssets)
	if err != nil {
		t.Fatal(err)
	}
	n := &Normalizer{JS: js, Store: store, KV: kv, Now: func() time.Time { return time.Unix(1767225600, 0) }}
	ref := events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4}
	harvest := func(run int64, desc, extra string) (events.HarvestCompleted, map[string]events.Asset) {
		t.Helper()
		ref.RunID = run
		fetched := events.ArtifactsFetched{Run: events.RunFacts{RunRef: ref}, Generation: 1}
		docs := map[string]string{
			events.ManifestJSON:   strings.NewReplacer("ORDERS_DESC", desc, "EXTRA", extra).Replace(project),
			events.RunResultsJSON: strings.ReplaceAll(runResults, "INV", "inv-"+desc),
		}
		for _, name := range []string{events.ManifestJSON, events.RunResultsJSON} {
			key := fmt.Sprintf("%d/%d/1/%s", ref.AccountID, run, name)
			if _, err := store.PutString(ctx, key, docs[name]); err != nil {
				t.Fatal(err)
			}
			fetched.Artifacts = append(fetched.Artifacts, events.StoredArtifact{Name: name, Step: 1, Bucket: events.BucketArtifacts, Key: key})
		}
		done, err := n.Harvest(ctx, fetched)
		if err != nil {
			t.Fatalf("Harvest(run %d): %v", run, err)
		}
		return done, assetEvents(ctx, t, js, run)
	}

	extra := `, "model.p.old": {"resource_type": "model", "name": "old", "package_name": "p"}`
	done, assets := harvest(10, "Orders.", extra)
	if got := done.Changes; got["new"] != 5 || len(got) != 1 {
		t.Errorf("first harvest: changes = %v, want 5 new", got)
	}
	for id, a := range assets {
		if a.Change != "new" {
			t.Errorf("first harvest: %s change = %q, want new", id, a.Change)
		}
	}

	done, _ = harvest(11, "Orders.", extra)
	if got := done.Changes; got["unchanged"] != 5 || len(got) != 1 {
		t.Errorf("identical harvest (new run, new results): changes = %v, want 5 unchanged", got)
	}
	if len(done.Removed) != 0 {
		t.Errorf("identical harvest: removed = %v, want none", done.Removed)
	}

	done, assets = harvest(12, "Orders, revised.", "")
	if got := done.Changes; got["changed"] != 1 || got["unchanged"] != 3 || len(got) != 2 {
		t.Errorf("third harvest: changes = %v, want 1 changed, 3 unchanged", got)
	}
	orders := assets["model.p.orders"]
	if orders.Change != "changed" || !slices.Equal(orders.ChangedFields, []string{"description"}) {
		t.Errorf("model.p.orders: change = %q %v, want changed [description]", orders.Change, orders.ChangedFields)
	}
	if c := assets["model.p.customers"]; c.Change != "unchanged" || c.ChangedFields != nil {
		t.Errorf("model.p.customers: change = %q %v, want unchanged", c.Change, c.ChangedFields)
	}
	if want := []string{"1/2/3/model.p.old"}; !slices.Equal(done.Removed, want) {
		t.Errorf("removed = %v, want %v", done.Removed, want)
	}
	if _, err := kv.Get(ctx, KVKey(ref, "model.p.old")); err == nil {
		t.Error("model.p.old is still in DBT_ASSETS")
	}
	e, err := kv.Get(ctx, KVKey(ref, "model.p.orders"))
	if err != nil {
		t.Fatalf("DBT_ASSETS model.p.orders: %v", err)
	}
	if !strings.Contains(string(e.Value()), `"description":"Orders, revised."`) {
		t.Errorf("DBT_ASSETS model.p.orders = %s, want the revised description", e.Value())
	}
}

// assetEvents reads the asset events of one run from DBT_METADATA.
func assetEvents(ctx context.Context, t *testing.T, js jetstream.JetStream, run int64) map[string]events.Asset {
	t.Helper()
	cons, err := js.OrderedConsumer(ctx, events.StreamMetadata, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"dbt.metadata.>"}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(10000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]events.Asset{}
	for m := range batch.Messages() {
		ev, err := events.Decode(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type() != events.TypeAssetHarvested {
			continue
		}
		a, err := events.DataAs[events.Asset](ev)
		if err != nil {
			t.Fatal(err)
		}
		if a.RunID == run {
			out[a.UniqueID] = a
		}
	}
	return out
}
