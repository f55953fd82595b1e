package fetcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Outcome is what FetchListed did with a run.
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

// Ref is where a listed run sits.
func Ref(run dbtcloud.Run) events.RunRef {
	return events.RunRef{AccountID: run.AccountID, ProjectID: run.ProjectID, EnvironmentID: run.EnvironmentID,
		JobID: run.JobDefinitionID, RunID: run.ID}
}

// FetchListed fetches a run listed from the Admin API (by the reconciler or
// a backfill) the way Handle does for a webhook, unless the ledger says it
// is done: any record when retryFailed is false (the reconciler), a
// completed one when it is true (a backfill retries failed runs). A run
// whose last harvest failed is fetched as the next generation, so that the
// duplicate windows do not absorb it. Rate limits and transient failures are
// returned (retry.Delay tells how long to wait); a permanent failure closes
// the run's harvest with a harvest.failed event and returns Failed with the
// cause.
func (f *Fetcher) FetchListed(ctx context.Context, run dbtcloud.Run, retryFailed bool) (Outcome, error) {
	rec, ok, err := f.Ledger.Lookup(ctx, run.AccountID, run.ID)
	if err != nil {
		return Skipped, err
	}
	if ok && (rec.Status == ledger.Completed || !retryFailed) {
		return Skipped, nil
	}
	req := Request{Ref: Ref(run), Generation: ledger.NextGeneration(rec, ok)}
	_, err = f.Fetch(ctx, req)
	switch {
	case err == nil:
		return Fetched, nil
	case !retry.IsPermanent(err):
		return Skipped, err
	}
	failed := events.HarvestFailed{Run: Facts(run, ""), Generation: req.Generation, Stage: "fetch",
		Reason: err.Error(), Fix: Fix(err), FailedAt: f.now().UTC()}
	if errors.Is(err, ErrCancelled) {
		failed.Stage = "skip"
	}
	if cerr := f.Ledger.Fail(ctx, failed); cerr != nil {
		return Failed, fmt.Errorf("%w (and closing its harvest failed: %w)", err, cerr)
	}
	return Failed, err
}
