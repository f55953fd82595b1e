package dbtcloud

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RunFilter selects runs for ListRuns. Zero fields do not filter.
type RunFilter struct {
	JobID         int64  // job_definition_id
	EnvironmentID int64  // environment_id
	ProjectID     int64  // project_id
	Status        int    // status, e.g. StatusSuccess
	Statuses      []int  // status__in, e.g. {StatusSuccess, StatusError}
	IDGreaterThan int64  // id__gt, for reconciliation
	OrderBy       string // id (default), created_at, finished_at; "-" prefix for descending
	Limit         int    // at most this many runs; 0 means all
	// FinishedAfter and FinishedBefore bound finished_at, both inclusive
	// (finished_at__range; an open end is sent as a far date). A third
	// party reports that dbt ignores the range, so the client also filters
	// the runs it receives, and then never returns an unfinished run.
	FinishedAfter, FinishedBefore time.Time
}

// rangeFloor and rangeCeiling stand in for an open end of finished_at__range.
var (
	rangeFloor   = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	rangeCeiling = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

func (f RunFilter) query() url.Values {
	q := url.Values{"include_related": {`["trigger"]`}}
	setID := func(k string, v int64) {
		if v != 0 {
			q.Set(k, strconv.FormatInt(v, 10))
		}
	}
	setID("job_definition_id", f.JobID)
	setID("environment_id", f.EnvironmentID)
	setID("project_id", f.ProjectID)
	setID("status", int64(f.Status))
	setID("id__gt", f.IDGreaterThan)
	if len(f.Statuses) > 0 {
		q.Set("status__in", intList(f.Statuses))
	}
	if f.ranged() {
		lo, hi := rangeFloor, rangeCeiling
		if !f.FinishedAfter.IsZero() {
			lo = f.FinishedAfter
		}
		if !f.FinishedBefore.IsZero() {
			hi = f.FinishedBefore
		}
		// The JSON-list form third-party clients (Dagster, Airflow DAGs) send.
		q.Set("finished_at__range", fmt.Sprintf(`["%s","%s"]`, lo.UTC().Format(time.RFC3339Nano), hi.UTC().Format(time.RFC3339Nano)))
	}
	if f.OrderBy != "" {
		q.Set("order_by", f.OrderBy)
	}
	return q
}

func (f RunFilter) ranged() bool { return !f.FinishedAfter.IsZero() || !f.FinishedBefore.IsZero() }

// keep applies the finished_at range on the client side. past reports that
// run, and every later one in the requested order, lies beyond the range.
func (f RunFilter) keep(r Run) (ok, past bool) {
	if !f.ranged() {
		return true, false
	}
	if r.FinishedAt.IsZero() {
		return false, false
	}
	before := !f.FinishedAfter.IsZero() && r.FinishedAt.Before(f.FinishedAfter)
	after := !f.FinishedBefore.IsZero() && r.FinishedAt.After(f.FinishedBefore)
	past = (f.OrderBy == "-finished_at" && before) || (f.OrderBy == "finished_at" && after)
	return !before && !after, past
}

// intList is dbt's list form for __in filters: [10,20].
func intList(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// GetRun returns a run with its steps, job and trigger, asked for as
// include_related=["trigger","run_steps","job"] (the JSON-list form dbt
// Labs' own guides and MCP server send).
func (c *Client) GetRun(ctx context.Context, runID int64) (Run, error) {
	q := url.Values{"include_related": {`["trigger","run_steps","job"]`}}
	var r Run
	if _, err := c.getJSON(ctx, fmt.Sprintf("runs/%d/", runID), q, &r); err != nil {
		return Run{}, fmt.Errorf("get run %d: %w", runID, err)
	}
	return r, nil
}

// ListRuns pages through the account's runs matching f (PageSize per page,
// at most 100) until f.Limit runs or the last page. Runs carry their
// trigger.
func (c *Client) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	var runs []Run
	err := c.pages(ctx, "v2", "runs/", f.query(), f.Limit, func(page []Run) (int, bool) {
		n := 0
		for _, r := range page {
			ok, past := f.keep(r)
			if past {
				return n, true
			}
			if ok && (f.Limit <= 0 || len(runs) < f.Limit) {
				runs = append(runs, r)
				n++
			}
		}
		return n, f.Limit > 0 && len(runs) >= f.Limit
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

// pages GETs a list endpoint page by page (limit/offset) and hands each
// page to take, which returns how many items it kept and whether to stop.
// want > 0 shrinks the first page when fewer items are wanted.
func pages[T any](ctx context.Context, c *Client, api, rel string, q url.Values, want int, take func([]T) (int, bool)) error {
	kept := 0
	for offset := 0; ; {
		limit := c.pageSize
		if want > 0 {
			limit = max(1, min(limit, want-kept))
		}
		q.Set("limit", strconv.Itoa(limit))
		q.Set("offset", strconv.Itoa(offset))
		var page []T
		ex, err := c.doJSON(ctx, call{method: http.MethodGet, api: api, rel: rel, query: q}, &page)
		if err != nil {
			return fmt.Errorf("page at offset %d: %w", offset, err)
		}
		n, stop := take(page)
		kept += n
		offset += len(page)
		total := ex.Pagination.TotalCount
		if stop || len(page) == 0 || (total > 0 && offset >= total) || (total == 0 && len(page) < limit) {
			return nil
		}
	}
}

// pages is the method form of the generic pages, for one item type.
func (c *Client) pages(ctx context.Context, api, rel string, q url.Values, want int, take func([]Run) (int, bool)) error {
	return pages(ctx, c, api, rel, q, want, take)
}

// listAll pages through a list endpoint and returns every item.
func listAll[T any](ctx context.Context, c *Client, api, rel string, q url.Values) ([]T, error) {
	if q == nil {
		q = url.Values{}
	}
	var all []T
	err := pages(ctx, c, api, rel, q, 0, func(page []T) (int, bool) {
		all = append(all, page...)
		return len(page), false
	})
	return all, err
}

// GetJob returns a job definition.
func (c *Client) GetJob(ctx context.Context, jobID int64) (Job, error) {
	var j Job
	if _, err := c.getJSON(ctx, fmt.Sprintf("jobs/%d/", jobID), nil, &j); err != nil {
		return Job{}, fmt.Errorf("get job %d: %w", jobID, err)
	}
	return j, nil
}

// JobFilter selects jobs for ListJobs. Zero fields do not filter.
type JobFilter struct {
	ProjectID     int64
	EnvironmentID int64
}

// ListJobs returns the account's active jobs matching f, in ID order
// (v2 jobs/, paginated).
func (c *Client) ListJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	q := url.Values{"order_by": {"id"}}
	if f.ProjectID != 0 {
		q.Set("project_id", strconv.FormatInt(f.ProjectID, 10))
	}
	if f.EnvironmentID != 0 {
		q.Set("environment_id", strconv.FormatInt(f.EnvironmentID, 10))
	}
	jobs, err := listAll[Job](ctx, c, "v2", "jobs/", q)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}

// GetAccount returns the client's account (v2 accounts/{id}/): the first
// call to make with a new token, since it fails with 401 or 403 when the
// token is invalid or not scoped to the account.
func (c *Client) GetAccount(ctx context.Context) (Account, error) {
	var a Account
	if _, err := c.getJSON(ctx, "", nil, &a); err != nil {
		return Account{}, fmt.Errorf("get account %d: %w", c.accountID, err)
	}
	return a, nil
}

// ListProjects returns the account's active projects (v3 projects/; the v2
// endpoint is deprecated).
func (c *Client) ListProjects(ctx context.Context) ([]Project, error) {
	ps, err := listAll[Project](ctx, c, "v3", "projects/", url.Values{"order_by": {"id"}})
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return ps, nil
}

// ListEnvironments returns a project's environments, or with projectID 0
// those of every project (v3 environments are project-scoped, so that is
// one list per project).
func (c *Client) ListEnvironments(ctx context.Context, projectID int64) ([]Environment, error) {
	ids := []int64{projectID}
	if projectID == 0 {
		ps, err := c.ListProjects(ctx)
		if err != nil {
			return nil, fmt.Errorf("list environments: %w", err)
		}
		ids = ids[:0]
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
	}
	var all []Environment
	for _, id := range ids {
		envs, err := listAll[Environment](ctx, c, "v3", fmt.Sprintf("projects/%d/environments/", id), url.Values{"order_by": {"id"}})
		if err != nil {
			return nil, fmt.Errorf("list environments of project %d: %w", id, err)
		}
		all = append(all, envs...)
	}
	return all, nil
}
