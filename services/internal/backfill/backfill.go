// Package backfill harvests a job's past runs into the pipeline, oldest
// first, the way the fetcher harvests a run on its webhook.
//
// # What is owned and retried
//
// The ledger (DBT_HARVESTS) is the backfill's only state: a run it records
// as completed is skipped, so an interrupted backfill resumes where it
// stopped, and a run whose last harvest failed is tried again as the next
// generation. Rate limits are waited out however often they come; a run
// that fails transiently is tried Attempts times (backoff with jitter); a
// permanent failure closes the run's harvest with harvest.failed (the
// fetcher's FetchListed) and the backfill goes on to the next run.
package backfill

import (
	"context"
	"fmt"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Reporter shows a backfill's progress.
type Reporter interface {
	Start(total int)
	// Note is something to tell between runs: a wait, a retry, a stop.
	Note(msg string)
	// Step reports the i-th run (from 1) done, with what became of it.
	Step(i int, run dbtcloud.Run, out fetcher.Outcome, err error)
	Finish()
}

// Backfill harvests listed runs with Fetcher.
type Backfill struct {
	Fetcher *fetcher.Fetcher
	Report  Reporter
	// Attempts bounds the tries of one run that fails transiently (5xx,
	// timeouts); default 5.
	Attempts int
}

// Counts is how many runs ended each way.
type Counts map[fetcher.Outcome]int

// List lists the completed runs of f, oldest first, waiting out rate limits.
func (b *Backfill) List(ctx context.Context, c *dbtcloud.Client, f dbtcloud.RunFilter) ([]dbtcloud.Run, error) {
	var runs []dbtcloud.Run
	err := b.patiently(ctx, "list runs", func() error {
		var err error
		runs, err = c.CompletedRuns(ctx, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("backfill: %w", err)
	}
	return runs, nil
}

// Run harvests runs in order, at most limit of them (0: all; runs already
// harvested do not count). It returns an error when ctx ended it (the
// backfill resumes when run again) or when runs failed.
func (b *Backfill) Run(ctx context.Context, runs []dbtcloud.Run, limit int) (Counts, error) {
	b.Report.Start(len(runs))
	defer b.Report.Finish()
	counts := Counts{}
	for i, run := range runs {
		if limit > 0 && counts[fetcher.Fetched]+counts[fetcher.Failed] >= limit {
			b.Report.Note(fmt.Sprintf("stopping after %d runs (--limit); run again to go on", limit))
			break
		}
		var out fetcher.Outcome
		err := b.patiently(ctx, fmt.Sprintf("run %d", run.ID), func() error {
			var err error
			out, err = b.Fetcher.FetchListed(ctx, run, true)
			if out == fetcher.Failed {
				return retry.Permanent(err) // closed with harvest.failed: do not try again
			}
			return err
		})
		if ctx.Err() != nil {
			return counts, fmt.Errorf("backfill interrupted after %d of %d runs (run it again to resume): %w", i, len(runs), ctx.Err())
		}
		if err != nil {
			out = fetcher.Failed
		}
		counts[out]++
		b.Report.Step(i+1, run, out, err)
	}
	if n := counts[fetcher.Failed]; n > 0 {
		return counts, fmt.Errorf("backfill: %d run(s) failed (see above; failed runs are tried again on the next backfill)", n)
	}
	return counts, nil
}

// patiently runs try until it succeeds, fails permanently, or fails
// transiently Attempts times; a rate limit is waited out and does not count
// as an attempt.
func (b *Backfill) patiently(ctx context.Context, what string, try func() error) error {
	attempts := b.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	for attempt := 1; ; {
		err := try()
		if err == nil || retry.IsPermanent(err) || ctx.Err() != nil {
			return err
		}
		d, limited := retry.Delay(err)
		if limited {
			b.Report.Note(fmt.Sprintf("%s: rate limited by dbt Cloud; waiting %s", what, d.Round(time.Second)))
		} else {
			if attempt >= attempts {
				return err
			}
			d = retry.Backoff(uint64(attempt), 2*time.Second, time.Minute)
			attempt++
			b.Report.Note(fmt.Sprintf("%s: %v; trying again in %s", what, err, d.Round(time.Millisecond)))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
