package harvest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/publish"
)

// volatile fields change with every run and are not changes of the asset.
var volatile = map[string]bool{
	"job_id": true, "run_id": true, "result": true, "change": true, "changed_fields": true, "full_object": true,
}

// fieldHashes maps an asset's top-level fields to hashes of their JSON.
type fieldHashes map[string]uint64

func hashFields(assetJSON []byte) (fieldHashes, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(assetJSON, &fields); err != nil {
		return nil, fmt.Errorf("read asset state: %w", err)
	}
	out := make(fieldHashes, len(fields))
	for k, v := range fields {
		if volatile[k] {
			continue
		}
		h := fnv.New64a()
		h.Write(bytes.TrimSpace(v))
		out[k] = h.Sum64()
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
func loadState(ctx context.Context, kv jetstream.KeyValue, r events.RunRef) (map[string]fieldHashes, error) {
	w, err := kv.Watch(ctx, envPrefix(r), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read asset state: %w", err)
	}
	defer w.Stop()
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
			h, err := hashFields(e.Value())
			if err != nil {
				continue // an unreadable old state counts as absent: the asset is "new"
			}
			state[e.Key()] = h
		}
	}
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
}

// maxAsset leaves room for the CloudEvent envelope and headers under 1 MiB.
const maxAsset = publish.MaxPayload - 64<<10

func (p *assetPublisher) emit(a events.Asset) error {
	ctx := context.Background() // the batch's waits are bounded by JetStream's own timeouts
	key := KVKey(p.ref, a.UniqueID)
	p.seen[key] = true
	state, err := encodeAsset(a)
	if err != nil {
		return err
	}
	cur, err := hashFields(state)
	if err != nil {
		return err
	}
	prev, existed := p.prev[key]
	switch changed := changedFields(prev, cur); {
	case !existed:
		a.Change = "new"
	case len(changed) > 0:
		a.Change, a.ChangedFields = "changed", changed
	default:
		a.Change = "unchanged"
	}
	p.changes[a.Change]++
	data, err := encodeAsset(a)
	if err != nil {
		return err
	}
	if len(data) > maxAsset {
		if data, err = p.offload(ctx, &a, data); err != nil {
			return err
		}
	}
	ev, err := events.New(events.TypeAssetHarvested, events.AssetID(p.ref, p.gen, a.UniqueID), p.ref, a.UniqueID,
		p.n.now(), json.RawMessage(data))
	if err != nil {
		return err
	}
	if err := p.batch.Add(ctx, events.AssetSubject(p.ref, a.ResourceType), ev); err != nil {
		return err
	}
	put := nats.NewMsg("$KV." + events.BucketAssets + "." + key)
	put.Data = data
	return p.batch.AddMsg(ctx, put)
}

// offload stores an asset too large for one message in the object store and
// returns the trimmed asset that the event carries instead.
func (p *assetPublisher) offload(ctx context.Context, a *events.Asset, full []byte) ([]byte, error) {
	key := fmt.Sprintf("%d/%d/assets/g%d/%s.json", p.ref.AccountID, p.ref.RunID, p.gen, KVKey(events.RunRef{}, a.UniqueID)[len("0.0.0."):])
	if _, err := p.n.Store.PutBytes(ctx, key, full); err != nil {
		return nil, fmt.Errorf("store oversized asset %s: %w", a.UniqueID, err)
	}
	a.FullObject, a.Columns, a.RawCode, a.CompiledCode = key, nil, "", ""
	p.warnings = append(p.warnings, fmt.Sprintf("asset %s is %d bytes, over the 1 MiB message limit: its columns and code are in object %s", a.UniqueID, len(full), key))
	return encodeAsset(*a)
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
