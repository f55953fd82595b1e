// Package reconcile keeps the pipeline complete when webhooks do not arrive:
// our own downtime, a delivery dbt Cloud gave up on after its retries, or a
// subscription dbt Cloud deactivated after failed deliveries.
//
// Every Options.Interval the [Reconciler] lists the completed runs of every
// configured account that finished since its previous pass (minus an
// overlap; the first pass looks back Options.Lookback), and harvests each
// run that has no record in DBT_HARVESTS, the way the fetcher would have on
// its webhook. A run harvested by both (its webhook arrived while the pass
// ran) is harvested once: the artifacts event's ID is the same, so
// JetStream's duplicate window absorbs the second.
//
// Each pass also lists the account's webhook subscriptions and logs a
// warning, and counts it, when one that delivers to this harvester is
// inactive: dbt Cloud deactivates a subscription after five consecutive
// failed deliveries, and nobody is told.
//
// The per-run step is the fetcher's [fetcher.Fetcher.FetchListed], shared
// with `harvester backfill`; the subscription checks are dbtcloud's.
package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Options configure the reconciler. The zero value is off.
type Options struct {
	// Interval between passes; 0 turns the reconciler off.
	Interval time.Duration
	// Lookback is how far back the first pass looks (default 24h).
	Lookback time.Duration
	// Overlap: each pass starts this long before the previous one started
	// (default 15m), so a run that finished while a pass ran is not missed.
	Overlap time.Duration
	// Settle leaves runs that finished less than this ago to their webhook
	// (default 1m); a later pass takes them if it did not come.
	Settle time.Duration
	// WebhookURL is this harvester's public webhook URL. Empty: any
	// subscription whose URL path is the receiver's counts as ours.
	WebhookURL string
}

func (o Options) withDefaults() Options {
	o.Lookback = cmp.Or(o.Lookback, 24*time.Hour)
	o.Overlap = cmp.Or(o.Overlap, 15*time.Minute)
	o.Settle = cmp.Or(o.Settle, time.Minute)
	return o
}

// Reconciler harvests the runs whose webhooks were lost and watches the
// webhook subscriptions. Clients holds one Admin API client per account.
type Reconciler struct {
	// Fetcher fetches the runs, with its clients (one per account) and its
	// accounts' include/exclude filters.
	Fetcher *fetcher.Fetcher
	Options Options
	Log     *slog.Logger
	Now     func() time.Time

	harvested, inactive atomic.Int64
}

// Harvested counts the runs the reconciler fetched (their webhooks were lost).
func (r *Reconciler) Harvested() int64 { return r.harvested.Load() }

// Inactive counts the times a pass found a subscription of ours inactive.
func (r *Reconciler) Inactive() int64 { return r.inactive.Load() }

// Result is what one pass found and did.
type Result struct {
	Listed, Harvested, Failed int
	Inactive                  []string // IDs of our inactive subscriptions
}

// Run passes at once, then every Interval, until ctx is cancelled; it
// returns nil then. A failed pass is logged and its window retried.
func (r *Reconciler) Run(ctx context.Context) error {
	opts := r.Options.withDefaults()
	if opts.Interval <= 0 {
		return nil
	}
	since := r.now().Add(-opts.Lookback)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := r.now()
		res, err := r.Pass(ctx, since)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.log().Warn("reconcile pass incomplete; its window is retried next pass", "since", since, "err", err,
				"harvested", res.Harvested)
		default:
			since = start.Add(-opts.Overlap)
			r.log().Debug("reconcile pass", "listed", res.Listed, "harvested", res.Harvested, "failed", res.Failed)
		}
		t.Reset(opts.Interval)
	}
}

// Pass harvests the unharvested completed runs that finished after since
// in every account, then checks the accounts' webhook subscriptions.
func (r *Reconciler) Pass(ctx context.Context, since time.Time) (Result, error) {
	var res Result
	var errs []error
	for id, c := range r.Fetcher.Clients {
		if err := r.runs(ctx, c, since, &res); err != nil {
			errs = append(errs, fmt.Errorf("account %d: %w", id, err))
		}
		r.subscriptions(ctx, c, &res)
	}
	return res, errors.Join(errs...)
}

// runs harvests one account's unharvested runs that finished after since.
func (r *Reconciler) runs(ctx context.Context, c *dbtcloud.Client, since time.Time, res *Result) error {
	opts := r.Options.withDefaults()
	runs, err := c.ListRuns(ctx, dbtcloud.RunFilter{FinishedAfter: since, OrderBy: "finished_at"})
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	settled := r.now().Add(-opts.Settle)
	var names *catalog
	for _, run := range runs {
		if !run.Harvestable() || run.FinishedAt.After(settled) {
			continue
		}
		run.AccountID = cmp.Or(run.AccountID, c.AccountID())
		if r.Fetcher.Filtered(run.AccountID) {
			if names == nil {
				if names, err = loadCatalog(ctx, c); err != nil {
					return err
				}
			}
			if r.Fetcher.Skip(names.request(run)) != "" {
				continue
			}
		}
		res.Listed++
		out, err := r.Fetcher.FetchListed(ctx, run, false)
		switch {
		case out == fetcher.Fetched:
			res.Harvested++
			n := r.harvested.Add(1)
			r.log().Info("reconciler harvested a run whose webhook did not arrive", "account", run.AccountID,
				"job", run.JobDefinitionID, "run", run.ID, "finished_at", run.FinishedAt, "reconciled_total", n)
		case out == fetcher.Failed:
			res.Failed++
			r.log().Warn("reconciler could not harvest a run", "account", run.AccountID, "run", run.ID, "err", err)
		case err != nil:
			if d, ok := retry.Delay(err); ok {
				return fmt.Errorf("run %d: rate limited for %s: %w", run.ID, d, err)
			}
			return fmt.Errorf("run %d: %w", run.ID, err)
		}
	}
	return nil
}

// subscriptions warns about every inactive subscription that delivers to us.
func (r *Reconciler) subscriptions(ctx context.Context, c *dbtcloud.Client, res *Result) {
	subs, err := c.ListSubscriptions(ctx)
	if err != nil {
		r.log().Info("cannot list webhook subscriptions (the token may lack webhook permission)",
			"account", c.AccountID(), "err", err)
		return
	}
	found := false
	for _, s := range subs {
		if !dbtcloud.Ours(s, r.Options.WebhookURL) {
			continue
		}
		found = true
		if trouble := dbtcloud.Trouble(s); trouble != "" {
			res.Inactive = append(res.Inactive, s.ID)
			n := r.inactive.Add(1)
			r.log().Warn("dbt Cloud webhook subscription is not delivering: runs are harvested only by the reconciler, late",
				"account", c.AccountID(), "subscription", s.ID, "url", s.ClientURL, "problem", trouble,
				"fix", dbtcloud.ReactivateFix(s.ClientURL), "inactive_total", n)
		}
	}
	if !found && r.Options.WebhookURL != "" {
		r.log().Warn("no dbt Cloud webhook subscription delivers to this harvester",
			"account", c.AccountID(), "url", r.Options.WebhookURL, "fix", dbtcloud.ReactivateFix(r.Options.WebhookURL))
	}
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// catalog holds an account's project, environment and job names, for
// filters that name them (run lists carry IDs only).
type catalog struct{ projects, environments, jobs map[int64]string }

func loadCatalog(ctx context.Context, c *dbtcloud.Client) (*catalog, error) {
	k := &catalog{projects: map[int64]string{}, environments: map[int64]string{}, jobs: map[int64]string{}}
	projects, err := c.ListProjects(ctx)
	if err != nil {
		return nil, fmt.Errorf("names for the filters: %w", err)
	}
	for _, p := range projects {
		k.projects[p.ID] = p.Name
		envs, err := c.ListEnvironments(ctx, p.ID)
		if err != nil {
			return nil, fmt.Errorf("names for the filters: %w", err)
		}
		for _, e := range envs {
			k.environments[e.ID] = e.Name
		}
	}
	jobs, err := c.ListJobs(ctx, dbtcloud.JobFilter{})
	if err != nil {
		return nil, fmt.Errorf("names for the filters: %w", err)
	}
	for _, j := range jobs {
		k.jobs[j.ID] = j.Name
	}
	return k, nil
}

// request is the fetch request for run, with the names the filters judge.
func (k *catalog) request(run dbtcloud.Run) fetcher.Request {
	ref := fetcher.Ref(run)
	return fetcher.Request{Ref: ref, Generation: 1, ProjectName: k.projects[ref.ProjectID],
		EnvironmentName: k.environments[ref.EnvironmentID], JobName: k.jobs[ref.JobID]}
}
