package normalizer

import (
	"context"
	"encoding/json"
	"hash/fnv"
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
		{"last result only", strings.Replace(base, `"change":"new"`, `"last_result":{"status":"error","run_id":5},"change":"new"`, 1), nil},
	}
	prev, _, err := hashFields([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		cur, _, err := hashFields([]byte(tt.cur))
		if err != nil {
			t.Fatalf("hashFields(%s): %v", tt.name, err)
		}
		if got := changedFields(prev, cur); !slices.Equal(got, tt.want) {
			t.Errorf("%s: changedFields = %v, want %v", tt.name, got, tt.want)
		}
	}
	_, res, err := hashFields([]byte(strings.Replace(base, `"change"`, `"last_result":{"run_id":5},"change"`, 1)))
	if err != nil || string(res.result) != `{"status":"success"}` || string(res.last) != `{"run_id":5}` {
		t.Errorf("hashFields results = %s, %s, %v; want this run's and the last", res.result, res.last, err)
	}
	if _, _, err := hashFields([]byte(`[1]`)); err == nil {
		t.Error("hashFields([1]) = nil error, want one")
	}
}

// TestHashColumns: a column's test_results (this run's test outcomes) are
// not part of its hash; everything else is.
func TestHashColumns(t *testing.T) {
	const base = `[{"name":"id","tests":["t"],"in_catalog":true},{"name":"x","description":"d"}]`
	tests := []struct {
		name, cols string
		same       bool
	}{
		{"identical", base, true},
		{"test results", `[{"name":"id","tests":["t"],"test_results":{"pass":1},"in_catalog":true},{"name":"x","description":"d","test_results":{"fail":2}}]`, true},
		{"test results last", `[{"name":"id","tests":["t"],"in_catalog":true},{"name":"x","description":"d","test_results":{"pass":0,"warn":0,"fail":1,"error":0,"skipped":0,"other":0}}]`, true},
		{"description", `[{"name":"id","tests":["t"],"in_catalog":true},{"name":"x","description":"e"}]`, false},
		{"description and test results", `[{"name":"id","tests":["t"],"test_results":{"pass":1},"in_catalog":true},{"name":"x","description":"e"}]`, false},
		{"meta named test_results", `[{"name":"id","tests":["t"],"in_catalog":true,"meta":{"a":1,"test_results":{"b":[2]}}},{"name":"x","description":"d"}]`, false},
		{"malformed", `[{"name":"id","test_results":{"pass":1}`, false},
	}
	sum := func(cols string) uint64 {
		h := fnv.New64a()
		hashColumns(h, []byte(cols))
		return h.Sum64()
	}
	for _, tt := range tests {
		if got := sum(tt.cols) == sum(base); got != tt.same {
			t.Errorf("%s: hashColumns equal to base's = %t, want %t", tt.name, got, tt.same)
		}
	}
}

func TestWithState(t *testing.T) {
	tests := []struct {
		name string
		last lastResult
		want string
	}{
		{"no result", lastResult{}, `{"a":{"b":1},"change":"changed","changed_fields":["description","tags"]}`},
		{"this run's", lastResult{result: []byte(`{"status":"success","execution_time":1}`), runID: 7, at: []byte(`"2026-01-01T00:00:00Z"`)},
			`{"a":{"b":1},"last_result":{"status":"success","execution_time":1,"run_id":7,"at":"2026-01-01T00:00:00Z"},"change":"changed","changed_fields":["description","tags"]}`},
		{"empty result", lastResult{result: []byte(`{}`), runID: 7, at: []byte(`"x"`)},
			`{"a":{"b":1},"last_result":{"run_id":7,"at":"x"},"change":"changed","changed_fields":["description","tags"]}`},
		{"carried", lastResult{carried: []byte(`{"status":"error","run_id":6}`)},
			`{"a":{"b":1},"last_result":{"status":"error","run_id":6},"change":"changed","changed_fields":["description","tags"]}`},
		{"this run's wins", lastResult{result: []byte(`{"status":"pass"}`), runID: 8, at: []byte(`"y"`), carried: []byte(`{"status":"error"}`)},
			`{"a":{"b":1},"last_result":{"status":"pass","run_id":8,"at":"y"},"change":"changed","changed_fields":["description","tags"]}`},
	}
	for _, tt := range tests {
		got := string(withState([]byte(`{"a":{"b":1}}`+"\n"), tt.last, "changed", []string{"description", "tags"}))
		if got != tt.want {
			t.Errorf("%s: withState = %s, want %s", tt.name, got, tt.want)
		}
	}
	if got, want := string(withState([]byte(`{"a":1}`), lastResult{}, "new", nil)), `{"a":1,"change":"new"}`; got != want {
		t.Errorf("withState = %s, want %s", got, want)
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
	js, store, kv := stores(t)
	n := &Normalizer{JS: js, Store: store, KV: kv, Now: func() time.Time { return time.Unix(1767225600, 0) }}
	ref := events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4}
	harvest := func(run int64, desc, extra string) (events.HarvestCompleted, map[string]events.Asset) {
		t.Helper()
		ref.RunID = run
		fetched := events.ArtifactsFetched{Run: events.RunFacts{RunRef: ref}, Generation: 1}
		storeArtifacts(t, store, &fetched,
			doc{events.ManifestJSON, []byte(strings.NewReplacer("ORDERS_DESC", desc, "EXTRA", extra).Replace(project))},
			doc{events.RunResultsJSON, []byte(strings.ReplaceAll(runResults, "INV", "inv-"+desc))})
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

// TestHarvestKeepsLastResult harvests one environment three times: a run
// that executes every node, a run that executes only customers (dbt build
// -s customers), and a run that executes nothing. An asset the run did not
// execute has no result but keeps its last_result, with the run and time
// of the run that executed it, in its event and in DBT_ASSETS; none of it
// makes an asset changed.
func TestHarvestKeepsLastResult(t *testing.T) {
	ctx := t.Context()
	js, store, kv := stores(t)
	harvestedAt := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	n := &Normalizer{JS: js, Store: store, KV: kv, Now: func() time.Time { return harvestedAt }}
	ref := events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4}
	manifest := strings.NewReplacer("ORDERS_DESC", "Orders.", "EXTRA", "").Replace(project)
	harvest := func(run int64, finished *time.Time, results string) (events.HarvestCompleted, map[string]events.Asset) {
		t.Helper()
		ref.RunID = run
		fetched := events.ArtifactsFetched{Run: events.RunFacts{RunRef: ref, FinishedAt: finished}, Generation: 1}
		storeArtifacts(t, store, &fetched, doc{events.ManifestJSON, []byte(manifest)}, doc{events.RunResultsJSON, []byte(results)})
		done, err := n.Harvest(ctx, fetched)
		if err != nil {
			t.Fatalf("Harvest(run %d): %v", run, err)
		}
		return done, assetEvents(ctx, t, js, run)
	}
	const rr = `{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json", "invocation_id": "i"}, "results": [RESULTS]}`
	all := strings.Replace(rr, "RESULTS", `{"unique_id": "model.p.orders", "status": "success", "execution_time": 1.5, "timing": []},
	  {"unique_id": "model.p.customers", "status": "error", "execution_time": 0.5, "message": "boom", "timing": []},
	  {"unique_id": "test.p.not_null_orders_id.1", "status": "pass", "timing": []}`, 1)
	customersOnly := strings.Replace(rr, "RESULTS", `{"unique_id": "model.p.customers", "status": "success", "execution_time": 0.7, "timing": []}`, 1)
	none := strings.Replace(rr, "RESULTS", "", 1)
	finished1 := time.Date(2026, 1, 1, 6, 0, 0, 0, time.UTC)
	finished2 := time.Date(2026, 1, 2, 6, 0, 0, 0, time.UTC)

	type want struct {
		result     string // this run's status, "" for none
		lastStatus string // last_result's status, "" for none
		lastRun    int64
		lastAt     time.Time
	}
	check := func(harvest string, assets map[string]events.Asset, wants map[string]want) {
		t.Helper()
		for id, w := range wants {
			a, ok := assets[id]
			if !ok {
				t.Errorf("%s: no asset event for %s", harvest, id)
				continue
			}
			got := want{}
			if a.Result != nil {
				got.result = a.Result.Status
			}
			if a.LastResult != nil {
				got.lastStatus, got.lastRun, got.lastAt = a.LastResult.Status, a.LastResult.RunID, a.LastResult.At
			}
			if got != w {
				t.Errorf("%s: %s result %q, last_result %q of run %d at %v; want %q, %q of run %d at %v",
					harvest, id, got.result, got.lastStatus, got.lastRun, got.lastAt, w.result, w.lastStatus, w.lastRun, w.lastAt)
			}
		}
	}

	_, assets := harvest(10, &finished1, all)
	check("run 10 (all)", assets, map[string]want{
		"model.p.orders":              {"success", "success", 10, finished1},
		"model.p.customers":           {"error", "error", 10, finished1},
		"test.p.not_null_orders_id.1": {"pass", "pass", 10, finished1},
		"source.p.raw.orders":         {},
	})
	if m := assets["model.p.customers"].LastResult; m.Message != "boom" || m.ExecutionTime != 0.5 {
		t.Errorf("run 10: customers last_result = %+v, want the result's message and execution time", m)
	}

	done, assets := harvest(11, &finished2, customersOnly)
	check("run 11 (customers only)", assets, map[string]want{
		"model.p.orders":              {"", "success", 10, finished1},
		"model.p.customers":           {"success", "success", 11, finished2},
		"test.p.not_null_orders_id.1": {"", "pass", 10, finished1},
		"source.p.raw.orders":         {},
	})
	if got := done.Changes; got["unchanged"] != 4 || len(got) != 1 {
		t.Errorf("run 11: changes = %v, want 4 unchanged (results are not changes)", got)
		for id, a := range assets {
			t.Logf("%s: %s %v", id, a.Change, a.ChangedFields)
		}
	}
	e, err := kv.Get(ctx, KVKey(ref, "model.p.orders"))
	if err != nil {
		t.Fatalf("DBT_ASSETS model.p.orders: %v", err)
	}
	var stored events.Asset
	if err := json.Unmarshal(e.Value(), &stored); err != nil {
		t.Fatal(err)
	}
	if stored.Result != nil || stored.LastResult == nil || stored.LastResult.RunID != 10 || stored.LastResult.ExecutionTime != 1.5 {
		t.Errorf("DBT_ASSETS model.p.orders after run 11 = %s, want no result and run 10's last_result", e.Value())
	}

	done, assets = harvest(12, nil, none)
	check("run 12 (nothing, no finished_at)", assets, map[string]want{
		"model.p.orders":    {"", "success", 10, finished1},
		"model.p.customers": {"", "success", 11, finished2},
	})
	if got := done.Changes; got["unchanged"] != 4 || len(got) != 1 {
		t.Errorf("run 12: changes = %v, want 4 unchanged", got)
	}
	_, assets = harvest(13, nil, customersOnly)
	check("run 13 (customers, no finished_at)", assets, map[string]want{
		"model.p.customers": {"success", "success", 13, harvestedAt},
	})
}

// stores starts an in-process JetStream with the pipeline's topology and
// binds what a normalizer writes to: the object store and DBT_ASSETS.
func stores(t *testing.T) (jetstream.JetStream, jetstream.ObjectStore, jetstream.KeyValue) {
	t.Helper()
	_, js := natstest.Run(t)
	if err := topology.Ensure(t.Context(), js, topology.Config{}); err != nil {
		t.Fatalf("topology.Ensure: %v", err)
	}
	store, err := js.ObjectStore(t.Context(), events.BucketArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), events.BucketAssets)
	if err != nil {
		t.Fatal(err)
	}
	return js, store, kv
}

// doc is an artifact's name and bytes.
type doc struct {
	name string
	data []byte
}

// storeArtifacts stores docs, in order, as step 1 of fetched's run, as the
// fetcher would, and lists them on fetched.
func storeArtifacts(t *testing.T, store jetstream.ObjectStore, fetched *events.ArtifactsFetched, docs ...doc) {
	t.Helper()
	ref := fetched.Run.RunRef
	for _, d := range docs {
		key := events.ObjectKey(ref.AccountID, ref.RunID, 1, d.name)
		if _, err := store.PutBytes(t.Context(), key, d.data); err != nil {
			t.Fatal(err)
		}
		fetched.Artifacts = append(fetched.Artifacts, events.StoredArtifact{Name: d.name, Step: 1, Bucket: events.BucketArtifacts, Key: key})
	}
}
