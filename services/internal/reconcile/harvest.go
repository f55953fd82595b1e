package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetch"
	"github.com/dbt-harvester/harvester/services/internal/harvest"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Fetcher harvests one run into the pipeline; *fetch.Fetcher is one.
type Fetcher interface {
	Fetch(ctx context.Context, req fetch.Request) (events.ArtifactsFetched, error)
}

// Outcome is what Harvest did with a run.
type Outcome int

const (
	// Skipped means DBT_HARVESTS already holds a record the caller accepts.
	Skipped Outcome = iota
	// Fetched means the artifacts are stored and the artifacts event
	// published; the normalizer closes the harvest.
	Fetched
	// Failed means the run cannot be harvested (no manifest, 401/403, ...);
	// its harvest is closed with a harvest.failed event saying what to fix.
	Failed
)

func (o Outcome) String() string {
	switch o {
	case Skipped:
		return "skipped"
	case Fetched:
		return "harvested"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Harvester fetches runs listed from the Admin API into the pipeline, the
// way the fetcher does for a webhook: the reconciler and `harvester
// backfill` share it.
type Harvester struct {
	Fetcher Fetcher
	JS      jetstream.JetStream
	Records jetstream.KeyValue // DBT_HARVESTS
	// RetryFailed harvests runs whose last harvest failed again (backfill);
	// otherwise any record means "seen" (the reconciler).
	RetryFailed bool
	Now         func() time.Time
}

// Harvestable reports whether a listed run is finished with something to
// harvest: complete (success or error, as job.run.completed fires for both)
// and not cancelled.
func Harvestable(run dbtcloud.Run) bool {
	done := run.IsComplete || run.Status == dbtcloud.StatusSuccess || run.Status == dbtcloud.StatusError
	return done && !run.IsCancelled && run.Status != dbtcloud.StatusCancelled
}

// Ref is where a listed run sits.
func Ref(run dbtcloud.Run) events.RunRef {
	return events.RunRef{AccountID: run.AccountID, ProjectID: run.ProjectID, EnvironmentID: run.EnvironmentID,
		JobID: run.JobDefinitionID, RunID: run.ID}
}

// Harvest fetches run unless its record says it is done. A run whose last
// harvest failed is fetched as the next generation, so that the pipeline's
// duplicate windows do not absorb it. Rate limits and transient failures
// are returned (retry.Delay tells how long to wait); a permanent failure
// closes the run's harvest with a harvest.failed event and returns Failed
// with the cause.
func (h *Harvester) Harvest(ctx context.Context, run dbtcloud.Run) (Outcome, error) {
	rec, ok, err := harvest.Lookup(ctx, h.Records, run.AccountID, run.ID)
	if err != nil {
		return Skipped, err
	}
	if ok && (rec.Status == "completed" || !h.RetryFailed) {
		return Skipped, nil
	}
	req := fetch.Request{Ref: Ref(run), Generation: harvest.NextGeneration(rec, ok)}
	_, err = h.Fetcher.Fetch(ctx, req)
	switch {
	case err == nil:
		return Fetched, nil
	case !retry.IsPermanent(err):
		return Skipped, err
	}
	failed := events.HarvestFailed{Run: fetch.Facts(run, ""), Generation: req.Generation, Stage: "fetch",
		Reason: err.Error(), Fix: fetch.Fix(err), FailedAt: h.now().UTC()}
	if errors.Is(err, fetch.ErrCancelled) {
		failed.Stage = "skip"
	}
	if cerr := harvest.Failed(ctx, h.JS, h.Records, failed); cerr != nil {
		return Failed, fmt.Errorf("%w (and closing its harvest failed: %w)", err, cerr)
	}
	return Failed, err
}

func (h *Harvester) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
