package harvest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/publish"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Failed closes a run's harvest without metadata: it publishes the
// harvest-failed event (its ID is the run's harvest ID, so a run's harvest
// closes once) and records the outcome in DBT_HARVESTS. The event carries a
// child of ctx's trace context, if any.
func Failed(ctx context.Context, js jetstream.JetStream, records jetstream.KeyValue, f events.HarvestFailed) error {
	ref := f.Run.RunRef
	ev, err := events.New(events.TypeHarvestFailed, events.HarvestID(ref, f.Generation), ref, "", f.FailedAt, f)
	if err != nil {
		return err
	}
	events.SetTrace(&ev, events.TraceFrom(ctx).Child())
	if _, err := publish.Event(ctx, js, events.HarvestSubject(ref), ev); err != nil {
		return err
	}
	return record(ctx, records, events.HarvestRecord{Run: ref, Generation: f.Generation, Status: "failed",
		Stage: f.Stage, Reason: f.Reason, At: f.FailedAt})
}

// record writes how a run's harvest ended to DBT_HARVESTS (when configured).
func record(ctx context.Context, kv jetstream.KeyValue, rec events.HarvestRecord) error {
	if kv == nil {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("record harvest of run %d: %w", rec.Run.RunID, err)
	}
	if _, err := kv.Put(ctx, events.HarvestKey(rec.Run.AccountID, rec.Run.RunID), b); err != nil {
		return fmt.Errorf("record harvest of run %d: %w", rec.Run.RunID, err)
	}
	return nil
}

// Lookup reads run's record in DBT_HARVESTS; ok is false when the run was
// never harvested.
func Lookup(ctx context.Context, records jetstream.KeyValue, account, run int64) (rec events.HarvestRecord, ok bool, err error) {
	e, err := records.Get(ctx, events.HarvestKey(account, run))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("read %s %s: %w", events.BucketHarvests, events.HarvestKey(account, run), err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return rec, false, fmt.Errorf("read %s %s: %w", events.BucketHarvests, events.HarvestKey(account, run), err)
	}
	return rec, true, nil
}

// NextGeneration is the generation of a deliberate new harvest of a run with
// record rec (ok false: never harvested): 1, or one more than the last, so
// that the duplicate windows do not absorb it. Two re-harvests asked for
// before the first one closed get the same generation, and the second is
// absorbed: a run is not harvested twice at once.
func NextGeneration(rec events.HarvestRecord, ok bool) int {
	if !ok {
		return 1
	}
	return max(rec.Generation, 1) + 1
}

// normalizeFix says what to do about a normalizer failure.
func normalizeFix(cause error) string {
	if retry.IsPermanent(cause) {
		return "the artifact cannot be read as dbt wrote it; check the run in dbt Cloud, and report the reason with the artifact's dbt version if dbt itself produced it"
	}
	return "the harvest gave up after repeated transient failures (NATS unavailable?); check the harvester's logs; the run event stays in DBT_RUNS for a re-harvest"
}
