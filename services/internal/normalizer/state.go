package normalizer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
	"github.com/dbt-harvester/harvester/services/internal/publish"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// volatile reports whether a top-level asset field changes with every run
// rather than with the asset: the run context, this run's results (and the
// test results rolled up from them), catalog statistics (row counts, bytes),
// and the change marks themselves.
func volatile(field string) bool {
	switch field {
	case "job_id", "run_id", "result", "test_results", "stats", "change", "changed_fields", "full_object":
		return true
	}
	return false
}

// fieldHashes maps an asset's top-level fields to hashes of their JSON.
type fieldHashes map[string]uint64

func hashFields(assetJSON []byte) (fieldHashes, error) {
	out := fieldHashes{}
	ok, err := artifact.EachMember(assetJSON, func(k, v []byte) error {
		if volatile(string(k)) {
			return nil
		}
		h := fnv.New64a()
		h.Write(v)
		out[string(k)] = h.Sum64()
		return nil
	})
	if err == nil && !ok {
		err = errors.New("not a JSON object")
	}
	if err != nil {
		return nil, fmt.Errorf("read asset state: %w", err)
	}
	return out, nil
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

// loadState reads the previous harvest's field hashes of every asset of the
// run's environment.
func loadState(ctx context.Context, kv jetstream.KeyValue, store jetstream.ObjectStore, r events.RunRef) (map[string]fieldHashes, error) {
	w, err := kv.Watch(ctx, envPrefix(r), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read asset state: %w", err)
	}
	defer func() { _ = w.Stop() }() // nothing to do if stopping fails
	state := map[string]fieldHashes{}
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
			h, err := hashFields(fullState(ctx, store, e.Value()))
			if err != nil {
				continue // an unreadable old state counts as absent: the asset is "new"
			}
			state[e.Key()] = h
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
	n        *Normalizer
	ref      events.RunRef
	gen      int
	prev     map[string]fieldHashes
	seen     map[string]bool
	batch    *publish.Batch
	changes  map[string]int
	warnings []string
	trace    events.Trace // of the normalization, on every asset event
}

// maxAsset leaves room for the CloudEvent envelope and headers under 1 MiB.
const maxAsset = publish.MaxPayload - 64<<10

func (p *assetPublisher) emit(a normalize.Encoded) error {
	ctx := context.Background() // the batch's waits are bounded by JetStream's own timeouts
	key := KVKey(p.ref, a.UniqueID)
	p.seen[key] = true
	cur, err := hashFields(a.JSON)
	if err != nil {
		return err
	}
	change, changed := "unchanged", []string(nil)
	prev, existed := p.prev[key]
	switch changed = changedFields(prev, cur); {
	case !existed:
		change, changed = "new", nil
	case len(changed) > 0:
		change = "changed"
	}
	p.changes[change]++
	data := withChange(a.JSON, change, changed)
	if len(data) > maxAsset {
		if data, err = p.offload(ctx, a.UniqueID, data); err != nil {
			return err
		}
	}
	ev, err := events.New(events.TypeAssetHarvested, events.AssetID(p.ref, p.gen, a.UniqueID), p.ref, a.UniqueID,
		p.n.now(), json.RawMessage(data))
	if err != nil {
		return err
	}
	events.SetTrace(&ev, p.trace)
	if err := p.batch.Add(ctx, events.AssetSubject(p.ref, a.ResourceType), ev); err != nil {
		return err
	}
	put := nats.NewMsg("$KV." + events.BucketAssets + "." + key)
	put.Data = data
	return p.batch.AddMsg(ctx, put)
}

// withChange is the asset's JSON with its change marks, the last members
// of an events.Asset, appended; a new slice.
func withChange(asset []byte, change string, changed []string) []byte {
	out := make([]byte, 0, len(asset)+32+24*len(changed))
	body := bytes.TrimRight(asset, " \t\r\n")
	out = append(out, body[:max(0, len(body)-1)]...) // without its closing brace
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
	if _, err := p.n.Store.PutBytes(ctx, key, full); err != nil {
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
