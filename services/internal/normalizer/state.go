package normalizer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
	"github.com/dbt-harvester/harvester/services/internal/openlineage"
	"github.com/dbt-harvester/harvester/services/internal/publish"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// volatile reports whether a top-level asset field changes with every run
// rather than with the asset: the run context, results (this run's, the
// last known one, and the test results rolled up from them), catalog
// statistics (row counts, bytes), and the change marks themselves.
func volatile(field string) bool {
	switch field {
	case "job_id", "run_id", "result", "last_result", "test_results", "stats", "change", "changed_fields", "full_object":
		return true
	}
	return false
}

// fieldHashes maps an asset's top-level fields to hashes of their JSON.
type fieldHashes map[string]uint64

// results are an asset's result and last_result members as raw JSON (nil
// when absent), pointing into the asset's JSON.
type results struct {
	result, last []byte
}

// hashFields hashes an asset's fields and finds its results on the way.
func hashFields(assetJSON []byte) (fieldHashes, results, error) {
	out := fieldHashes{}
	var res results
	ok, err := artifact.EachMember(assetJSON, func(k, v []byte) error {
		switch string(k) {
		case "result":
			res.result = v
		case "last_result":
			res.last = v
		}
		if volatile(string(k)) {
			return nil
		}
		h := fnv.New64a()
		if string(k) == "columns" {
			hashColumns(h, v)
		} else {
			h.Write(v)
		}
		out[string(k)] = h.Sum64()
		return nil
	})
	if err == nil && !ok {
		err = errors.New("not a JSON object")
	}
	if err != nil {
		return nil, results{}, fmt.Errorf("read asset state: %w", err)
	}
	return out, res, nil
}

// hashColumns hashes an asset's columns without their test_results (this
// run's outcomes of the column's tests, a measurement like result): the
// bytes hashed are the columns' JSON with each ,"test_results":{...} cut
// out, so a column hashes the same whether its tests ran or not.
func hashColumns(h hash.Hash64, cols []byte) {
	const cut = `,"test_results":`
	if !bytes.Contains(cols, []byte(cut)) {
		h.Write(cols) // the common case
		return
	}
	pos := 0
	_, _ = artifact.EachElement(cols, func(col []byte) error { // malformed: the rest is hashed whole
		_, err := artifact.EachMember(col, func(k, val []byte) error {
			if string(k) != "test_results" {
				return nil
			}
			start := cap(cols) - cap(val) - len(cut) // val points into cols
			if start < pos || string(cols[start:start+len(cut)]) != cut {
				return nil
			}
			h.Write(cols[pos:start])
			pos = start + len(cut) + len(val)
			return nil
		})
		return err
	})
	h.Write(cols[pos:])
}

// prevAsset is what a harvest keeps of an asset's previous state.
type prevAsset struct {
	hashes fieldHashes
	// lastResult is the state's last_result, copied; nil when none.
	lastResult []byte
}

// changedFields lists, sorted, the fields whose hashes differ.
func changedFields(prev, cur fieldHashes) []string {
	var out []string
	for k, v := range cur {
		if p, ok := prev[k]; !ok || p != v {
			out = append(out, k)
		}
	}
	for k := range prev {
		if _, ok := cur[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// KVKey is the DBT_ASSETS key of an asset: <account>.<project>.<environment>.
// followed by the unique_id with every byte outside [A-Za-z0-9_-] (dots
// included) escaped as =XX, so the key is valid and the unique_id one token.
func KVKey(r events.RunRef, uniqueID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d.%d.%d.", r.AccountID, r.ProjectID, r.EnvironmentID)
	for i := 0; i < len(uniqueID); i++ {
		c := uniqueID[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

func envPrefix(r events.RunRef) string {
	return fmt.Sprintf("%d.%d.%d.>", r.AccountID, r.ProjectID, r.EnvironmentID)
}

// loadState reads the previous harvest's field hashes and last result of
// every asset of the run's environment.
func loadState(ctx context.Context, kv jetstream.KeyValue, store jetstream.ObjectStore, r events.RunRef) (map[string]prevAsset, error) {
	w, err := kv.Watch(ctx, envPrefix(r), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read asset state: %w", err)
	}
	defer func() { _ = w.Stop() }() // nothing to do if stopping fails
	state := map[string]prevAsset{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read asset state: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("read asset state: watcher closed")
			}
			if e == nil { // the initial values are all delivered
				return state, nil
			}
			h, res, err := hashFields(fullState(ctx, store, e.Value()))
			if err != nil {
				continue // an unreadable old state counts as absent: the asset is "new"
			}
			state[e.Key()] = prevAsset{hashes: h, lastResult: bytes.Clone(res.last)}
		}
	}
}

// fullState is an asset's stored state; for an asset too large for a message
// (whose KV value lacks its columns and code), the complete asset from the
// object store when it is still there, so that its columns and code compare.
func fullState(ctx context.Context, store jetstream.ObjectStore, value []byte) []byte {
	key := artifact.RawText(artifact.Member(value, "full_object"))
	if key == "" || store == nil {
		return value
	}
	full, err := store.GetBytes(ctx, key)
	if err != nil {
		return value
	}
	return full
}

// assetPublisher turns each normalized asset into an asset event and a KV put.
type assetPublisher struct {
	n    *Normalizer
	ref  events.RunRef
	gen  int
	prev map[string]prevAsset
	seen map[string]bool
	// at is the quoted JSON time of this run's last_result (the run's
	// finished_at, else the harvest's start).
	at       []byte
	batch    *publish.Batch // asset events, on DBT_METADATA
	puts     *publish.Batch // DBT_ASSETS puts
	changes  map[string]int
	warnings []string
	trace    events.Trace           // of the normalization, on every asset event
	lineage  *openlineage.Collector // for the OpenLineage events; nil when they are off
}

// maxAsset leaves room for the CloudEvent envelope and headers under 1 MiB.
const maxAsset = publish.MaxPayload - 64<<10

// preparedAsset is an asset's events, made by prepare on the builders.
type preparedAsset struct {
	key     string        // in DBT_ASSETS
	change  string        // new, changed or unchanged
	lineage *events.Asset // what the OpenLineage events need; nil when off or not wanted
	data    []byte        // the asset with its state: the event's data and the KV value
	event   *nats.Msg     // nil when data is over maxAsset (emit offloads it)
	put     *nats.Msg
}

// prepare is normalize.Options.Prepare: everything an asset's events need
// that does not depend on the order of the assets, on the normalizer's
// builder goroutines (one per CPU): decoding for OpenLineage, dropping
// code, hashing, the change against the previous state (read only here),
// the event's encoding.
func (p *assetPublisher) prepare(a normalize.Encoded) (any, error) {
	out := &preparedAsset{key: KVKey(p.ref, a.UniqueID)}
	if p.lineage != nil && openlineage.Wants(a.ResourceType) {
		asset, err := openlineage.DecodeAsset(a.JSON)
		if err != nil {
			return nil, err
		}
		out.lineage = &asset
	}
	if p.lineage != nil && !p.n.IncludeCode {
		var err error
		if a.JSON, err = withoutCode(a.JSON); err != nil {
			return nil, err
		}
	}
	cur, res, err := hashFields(a.JSON)
	if err != nil {
		return nil, err
	}
	var changed []string
	prev, existed := p.prev[out.key]
	switch changed = changedFields(prev.hashes, cur); {
	case !existed:
		out.change, changed = "new", nil
	case len(changed) > 0:
		out.change = "changed"
	default:
		out.change = "unchanged"
	}
	last := lastResult{carried: prev.lastResult}
	if res.result != nil {
		last = lastResult{result: res.result, runID: p.ref.RunID, at: p.at}
	}
	out.data = withState(a.JSON, last, out.change, changed)
	if len(out.data) > maxAsset {
		return out, nil // emit stores it in the object store first
	}
	return out, p.encode(out, a)
}

// encode makes the asset's event and KV put from its data.
func (p *assetPublisher) encode(out *preparedAsset, a normalize.Encoded) error {
	// data is this asset's own slice (withState or offload made it), so the
	// event may keep it.
	m, err := events.NewAssetHarvestedJSON(p.ref, p.gen, a.UniqueID, a.ResourceType, out.data, p.n.now(), p.trace)
	if err != nil {
		return err
	}
	if out.event, err = publish.Msg(m); err != nil {
		return err
	}
	out.put = nats.NewMsg("$KV." + events.BucketAssets + "." + out.key)
	out.put.Data = out.data
	return nil
}

// emit publishes a prepared asset's event and KV put, in manifest order.
func (p *assetPublisher) emit(a normalize.Encoded) error {
	ctx := context.Background() // the batch's waits are bounded by JetStream's own timeouts
	out, ok := a.Prepared.(*preparedAsset)
	if !ok {
		return fmt.Errorf("asset %s was not prepared", a.UniqueID)
	}
	p.seen[out.key] = true
	p.changes[out.change]++
	if out.lineage != nil {
		p.lineage.Add(*out.lineage)
	}
	if out.event == nil {
		var err error
		if out.data, err = p.offload(ctx, a.UniqueID, out.data); err != nil {
			return err
		}
		if err := p.encode(out, a); err != nil {
			return err
		}
	}
	if err := p.batch.AddMsg(ctx, out.event); err != nil {
		return err
	}
	return p.puts.AddMsg(ctx, out.put)
}

// lastResult is how an asset's last_result is written: from this run's
// result (with the run's ID and time) when the run executed the asset, else
// as carried over from its previous state.
type lastResult struct {
	result  []byte // this run's result, an object
	runID   int64
	at      []byte // a quoted JSON time
	carried []byte // the previous state's last_result
}

// size is about the bytes append writes.
func (l lastResult) size() int {
	if l.result != nil {
		return len(l.result) + len(l.at) + 48
	}
	return len(l.carried) + 16
}

// append appends ,"last_result":{...} to out, or nothing when there is none.
func (l lastResult) append(out []byte) []byte {
	if l.result == nil {
		if l.carried == nil {
			return out
		}
		out = append(out, `,"last_result":`...)
		return append(out, l.carried...)
	}
	out = append(out, `,"last_result":`...)
	body := bytes.TrimRight(l.result, " \t\r\n")
	out = append(out, body[:len(body)-1]...) // without its closing brace
	if !artifact.IsEmptyObject(body) {
		out = append(out, ',')
	}
	out = append(out, `"run_id":`...)
	out = strconv.AppendInt(out, l.runID, 10)
	out = append(out, `,"at":`...)
	out = append(out, l.at...)
	return append(out, '}')
}

// withState is the asset's JSON with its last result and change marks, the
// last members of an events.Asset, appended; a new slice.
func withState(asset []byte, last lastResult, change string, changed []string) []byte {
	out := make([]byte, 0, len(asset)+32+24*len(changed)+last.size())
	body := bytes.TrimRight(asset, " \t\r\n")
	out = append(out, body[:max(0, len(body)-1)]...) // without its closing brace
	out = last.append(out)
	out = append(out, `,"change":`...)
	out = strconv.AppendQuote(out, change)
	if len(changed) > 0 {
		out = append(out, `,"changed_fields":`...)
		b, _ := json.Marshal(changed)
		out = append(out, b...)
	}
	return append(out, '}')
}

// offload stores an asset too large for one message in the object store and
// returns the trimmed asset that the event carries instead.
func (p *assetPublisher) offload(ctx context.Context, uniqueID string, full []byte) ([]byte, error) {
	key := fmt.Sprintf("%d/%d/assets/g%d/%s.json", p.ref.AccountID, p.ref.RunID, p.gen, KVKey(events.RunRef{}, uniqueID)[len("0.0.0."):])
	if _, err := publish.Object(ctx, p.n.JS, p.n.Store, events.BucketArtifacts, jetstream.ObjectMeta{Name: key}, bytes.NewReader(full)); err != nil {
		return nil, fmt.Errorf("store oversized asset %s: %w", uniqueID, err)
	}
	var a events.Asset
	if err := json.Unmarshal(full, &a); err != nil {
		return nil, fmt.Errorf("trim oversized asset %s: %w", uniqueID, err)
	}
	a.FullObject, a.Columns, a.RawCode, a.CompiledCode = key, nil, "", ""
	what := "columns and code"
	if b, err := encodeAsset(a); err != nil || len(b) <= maxAsset {
		p.warnings = append(p.warnings, fmt.Sprintf("asset %s is %d bytes, over the 1 MiB message limit: its %s are in object %s", uniqueID, len(full), what, key))
		return b, err
	}
	// Still too large (a huge description or meta): those go to the object too.
	a.Description, a.Meta, what = "", nil, "columns, code, description and meta"
	b, err := encodeAsset(a)
	if err == nil && len(b) > maxAsset {
		return nil, retry.Permanent(fmt.Errorf("asset %s is %d bytes even without its columns, code, description and meta (stored whole in object %s)", uniqueID, len(b), key))
	}
	p.warnings = append(p.warnings, fmt.Sprintf("asset %s is %d bytes, over the 1 MiB message limit: its %s are in object %s", uniqueID, len(full), what, key))
	return b, err
}

// removeVanished deletes from DBT_ASSETS the environment's assets that this
// harvest did not see, and returns their asset IDs.
func (p *assetPublisher) removeVanished(ctx context.Context) ([]string, error) {
	var removed []string
	for key := range p.prev {
		if p.seen[key] {
			continue
		}
		if err := p.n.KV.Delete(ctx, key); err != nil {
			return nil, fmt.Errorf("delete vanished asset %s: %w", key, err)
		}
		removed = append(removed, assetIDOfKey(key))
	}
	slices.Sort(removed)
	return removed, nil
}

// assetIDOfKey turns a KV key back into the stable asset ID.
func assetIDOfKey(key string) string {
	parts := strings.SplitN(key, ".", 4)
	if len(parts) != 4 {
		return key
	}
	var uid strings.Builder
	esc := parts[3]
	for i := 0; i < len(esc); i++ {
		if esc[i] == '=' && i+2 < len(esc) {
			var c byte
			if _, err := fmt.Sscanf(esc[i+1:i+3], "%02X", &c); err == nil {
				uid.WriteByte(c)
				i += 2
				continue
			}
		}
		uid.WriteByte(esc[i])
	}
	return parts[0] + "/" + parts[1] + "/" + parts[2] + "/" + uid.String()
}
