// Package ledger owns KV bucket DBT_HARVESTS: how each run's latest harvest
// ended, under <account>.<run>. Every stage, the reconciler, replay and
// backfill read and write it through this package and nothing else.
//
// # What is owned, acked and retried
//
// The ledger owns one record per run ([Record]): its generation, whether it
// completed or failed, where and why. The normalizer records a completed
// harvest after its closing event is stored; whoever gives up on a run
// ([Ledger.Fail]) publishes the harvest.failed event first and then records
// it, so a record never claims an event that is not on DBT_METADATA. A
// failed put is returned to the caller, whose message is redelivered; the
// event's ID is deterministic, so the republish is absorbed and the record
// is written on the next try. Nothing here retries.
//
// A deliberate re-harvest (replay, backfill, `harvester harvest`) takes
// [Ledger.Next] as its generation, so that JetStream's duplicate windows do
// not absorb it.
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/metrics"
	"github.com/dbt-harvester/harvester/services/internal/publish"
)

// Bucket is the KV bucket the ledger keeps: bookkeeping, not part of the
// public contract.
const Bucket = "DBT_HARVESTS"

// Outcomes of a harvest.
const (
	Completed = "completed"
	Failed    = "failed"
)

// Record is a run's entry: how its latest harvest ended.
type Record struct {
	Run        events.RunRef `json:"run"`
	Generation int           `json:"generation"`
	Status     string        `json:"status"` // Completed | Failed
	Stage      string        `json:"stage,omitempty"`
	Reason     string        `json:"reason,omitempty"`
	Assets     int           `json:"assets,omitempty"`
	At         time.Time     `json:"at"`
}

// Key is a run's key in the bucket: <account>.<run>.
func Key(account, run int64) string {
	return fmt.Sprintf("%d.%d", account, run)
}

// Ledger reads and writes the bucket. JS is needed only by Fail. A nil
// Ledger (no NATS: `harvester harvest --stdout`) records nothing and has
// seen no run.
type Ledger struct {
	KV jetstream.KeyValue
	JS jetstream.JetStream
	// Metrics counts the harvests Fail closes (failed, or skipped at stage
	// "skip"); nil: none.
	Metrics *metrics.Metrics
}

// Open binds the bucket, which topology creates.
func Open(ctx context.Context, js jetstream.JetStream) (*Ledger, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", Bucket, err)
	}
	return &Ledger{KV: kv, JS: js}, nil
}

// Lookup reads a run's record; ok is false when the run was never harvested.
func (l *Ledger) Lookup(ctx context.Context, account, run int64) (rec Record, ok bool, err error) {
	if l == nil || l.KV == nil {
		return rec, false, nil
	}
	key := Key(account, run)
	e, err := l.KV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("read %s %s: %w", Bucket, key, err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return rec, false, fmt.Errorf("read %s %s: %w", Bucket, key, err)
	}
	return rec, true, nil
}

// Next is the generation of a deliberate new harvest of a run: 1 when it
// was never harvested, else one more than its last. Two re-harvests asked
// for before the first closed get the same generation, and the second is
// absorbed: a run is not harvested twice at once.
func (l *Ledger) Next(ctx context.Context, account, run int64) (int, error) {
	rec, ok, err := l.Lookup(ctx, account, run)
	if err != nil {
		return 0, err
	}
	return NextGeneration(rec, ok), nil
}

// NextGeneration is [Ledger.Next] for a record already read.
func NextGeneration(rec Record, ok bool) int {
	if !ok {
		return 1
	}
	return max(rec.Generation, 1) + 1
}

// Put writes a run's record.
func (l *Ledger) Put(ctx context.Context, rec Record) error {
	if l == nil || l.KV == nil {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("record harvest of run %d: %w", rec.Run.RunID, err)
	}
	if _, err := l.KV.Put(ctx, Key(rec.Run.AccountID, rec.Run.RunID), b); err != nil {
		return fmt.Errorf("record harvest of run %d: %w", rec.Run.RunID, err)
	}
	return nil
}

// Fail closes a run's harvest without metadata: it publishes the
// harvest-failed event (its ID is the run's harvest ID, so a run's harvest
// closes once), carrying a child of ctx's trace context if any, and then
// records the failure.
func (l *Ledger) Fail(ctx context.Context, f events.HarvestFailed) error {
	ref := f.Run.RunRef
	m, err := events.NewHarvestFailed(f, events.TraceFrom(ctx).Child())
	if err != nil {
		return err
	}
	if _, err := publish.Event(ctx, l.JS, m); err != nil {
		return err
	}
	if err := l.Put(ctx, Record{Run: ref, Generation: f.Generation, Status: Failed,
		Stage: f.Stage, Reason: f.Reason, At: f.FailedAt}); err != nil {
		return err
	}
	if f.Stage == "skip" {
		l.Metrics.Harvest(metrics.HarvestSkipped)
	} else {
		l.Metrics.Harvest(metrics.HarvestFailed)
	}
	return nil
}

// Each calls fn with every record in the bucket (no order), for reports
// such as `harvester status`; it stops at fn's first error. A record it
// cannot read is an error.
func (l *Ledger) Each(ctx context.Context, fn func(Record) error) error {
	if l == nil || l.KV == nil {
		return nil
	}
	w, err := l.KV.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("read %s: %w", Bucket, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("read %s: %w", Bucket, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("read %s: watcher closed", Bucket)
			}
			if e == nil { // every current value was sent
				return nil
			}
			var rec Record
			if err := json.Unmarshal(e.Value(), &rec); err != nil {
				return fmt.Errorf("read %s %s: %w", Bucket, e.Key(), err)
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
}
