package dbtcloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// maxCandidates bounds how many recent successful runs LatestWithArtifacts
// looks at for one with artifacts (one page of the Admin API).
const maxCandidates = 100

// Harvestable reports whether a run is finished with something to harvest:
// complete (success or error, as job.run.completed fires for both) and not
// cancelled.
func (r Run) Harvestable() bool {
	done := r.IsComplete || r.Status == StatusSuccess || r.Status == StatusError
	return done && !r.IsCancelled && r.Status != StatusCancelled
}

// CompletedRuns lists the harvestable runs of f, oldest finished first,
// each with its account ID set.
func (c *Client) CompletedRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	runs, err := c.ListRuns(ctx, f)
	if err != nil {
		return nil, err
	}
	runs = slices.DeleteFunc(runs, func(r Run) bool { return !r.Harvestable() })
	slices.SortStableFunc(runs, func(a, b Run) int { return a.FinishedAt.Compare(b.FinishedAt) })
	for i := range runs {
		if runs[i].AccountID == 0 {
			runs[i].AccountID = c.AccountID()
		}
	}
	return runs, nil
}

// LatestWithArtifacts reads the most recent successful run that dbt Cloud
// kept a manifest.json of: of job when job > 0, else of any deploy job of
// environment (never a CI job, nor a run triggered as CI). It looks at the
// latest 100 successful runs.
func (c *Client) LatestWithArtifacts(ctx context.Context, job, environment int64) (Run, error) {
	filter := RunFilter{JobID: job, EnvironmentID: environment, Status: StatusSuccess, OrderBy: "-id", Limit: maxCandidates}
	runs, err := c.ListRuns(ctx, filter)
	if err != nil {
		return Run{}, err
	}
	deploy := func(Run) bool { return true }
	if job == 0 {
		if deploy, err = c.deployJobs(ctx, environment); err != nil {
			return Run{}, err
		}
	}
	for _, r := range runs {
		if !deploy(r) {
			continue
		}
		ok, err := c.hasManifest(ctx, r)
		if err != nil {
			return Run{}, err
		}
		if ok {
			return c.GetRun(ctx, r.ID)
		}
	}
	what := fmt.Sprintf("job %d", job)
	if job == 0 {
		what = fmt.Sprintf("any deploy job of environment %d", environment)
	}
	return Run{}, fmt.Errorf("no successful run of %s with artifacts among the latest %d successful runs", what, len(runs))
}

// deployJobs returns whether a run's job is a deploy job of the environment
// (not a CI job, and not triggered as CI).
func (c *Client) deployJobs(ctx context.Context, env int64) (func(Run) bool, error) {
	jobs, err := c.ListJobs(ctx, JobFilter{EnvironmentID: env})
	if err != nil {
		return nil, err
	}
	ok := map[int64]bool{}
	for _, j := range jobs {
		ok[j.ID] = !j.IsCI()
	}
	return func(r Run) bool {
		if r.Trigger != nil && strings.EqualFold(r.Trigger.CauseCategory, "ci") {
			return false
		}
		return ok[r.JobDefinitionID]
	}, nil
}

// hasManifest reports whether dbt Cloud kept the run's manifest.json.
func (c *Client) hasManifest(ctx context.Context, r Run) (bool, error) {
	if !r.ArtifactsSaved {
		return false, nil
	}
	paths, err := c.ListArtifacts(ctx, r.ID, 0)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(paths, "manifest.json"), nil
}
