package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
)

// named is a project, environment or job: what a config filter entry may name.
type named struct {
	id   int64
	name string
}

// resolve reports, for each filter entry, the object it names, as one check
// line each: the ID a name resolves to, or a failure listing what exists.
func resolve(r *report, kind, list string, entries []config.Match, all []named) {
	for _, m := range entries {
		var hits []named
		for _, n := range all {
			if matches(m, n) {
				hits = append(hits, n)
			}
		}
		check := kind
		switch {
		case len(hits) == 0:
			r.fail(check, fmt.Sprintf("%s entry %s matches no %s of the account", list, m, kind),
				fmt.Sprintf("fix the %s list in the config file; the account's %ss are: %s", list, kind, describe(all)))
		case len(hits) > 1:
			r.warn(check, fmt.Sprintf("%s entry %s matches %d %ss: %s", list, m, len(hits), kind, describe(hits)),
				"use the ID instead of the name")
		default:
			r.pass(check, fmt.Sprintf("%s entry %s is %s %d %q", list, m, kind, hits[0].id, hits[0].name))
		}
	}
}

func describe(ns []named) string {
	if len(ns) == 0 {
		return "none"
	}
	parts := make([]string, 0, min(len(ns), 20))
	for i, n := range ns {
		if i == 20 {
			parts = append(parts, fmt.Sprintf("… %d more", len(ns)-20))
			break
		}
		parts = append(parts, fmt.Sprintf("%q (%d)", n.name, n.id))
	}
	return strings.Join(parts, ", ")
}

// admits applies one dimension of an account's filters: an exclude entry
// wins, and an empty include list admits everything.
func admits(include, exclude []config.Match, n named) bool {
	return !matchesAny(exclude, n) && (len(include) == 0 || matchesAny(include, n))
}

func matchesAny(list []config.Match, n named) bool {
	for _, m := range list {
		if matches(m, n) {
			return true
		}
	}
	return false
}

func matches(m config.Match, n named) bool {
	return (m.ID != 0 && m.ID == n.id) || (m.Name != "" && strings.EqualFold(strings.TrimSpace(m.Name), n.name))
}

// checkScope resolves the account's include and exclude lists and returns
// the deploy jobs whose runs the harvester takes.
func checkScope(ctx context.Context, r *report, c *dbtcloud.Client, a config.Account) []dbtcloud.Job {
	projects, err := c.ListProjects(ctx)
	if err != nil {
		r.fail("projects", detail(err), readFix(err, "Account Viewer (or Job Viewer)"))
		return nil
	}
	projectNames := map[int64]string{}
	var ps []named
	for _, p := range projects {
		projectNames[p.ID] = p.Name
		ps = append(ps, named{p.ID, p.Name})
	}
	resolve(r, "project", "include", a.Include.Projects, ps)
	resolve(r, "project", "exclude", a.Exclude.Projects, ps)

	envNames := map[int64]string{}
	var es []named
	for _, p := range projects {
		if !admits(a.Include.Projects, a.Exclude.Projects, named{p.ID, p.Name}) {
			continue
		}
		envs, err := c.ListEnvironments(ctx, p.ID)
		if err != nil {
			r.fail("environments", fmt.Sprintf("project %d: %s", p.ID, detail(err)), readFix(err, "Account Viewer (or Job Viewer)"))
			continue
		}
		for _, e := range envs {
			envNames[e.ID] = e.Name
			es = append(es, named{e.ID, e.Name})
		}
	}
	resolve(r, "environment", "include", a.Include.Environments, es)
	resolve(r, "environment", "exclude", a.Exclude.Environments, es)

	jobs, err := c.ListJobs(ctx, dbtcloud.JobFilter{})
	if err != nil {
		r.fail("jobs", detail(err), readFix(err, "Job Viewer (or Account Viewer)"))
		return nil
	}
	var js []named
	for _, j := range jobs {
		js = append(js, named{j.ID, j.Name})
	}
	resolve(r, "job", "include", a.Include.Jobs, js)
	resolve(r, "job", "exclude", a.Exclude.Jobs, js)
	return inScope(r, a, jobs, projectNames, envNames)
}

// inScope keeps the active deploy jobs the account's filters admit, and
// reports how many there are.
func inScope(r *report, a config.Account, jobs []dbtcloud.Job, projectNames, envNames map[int64]string) []dbtcloud.Job {
	var scope []dbtcloud.Job
	ci := 0
	for _, j := range jobs {
		if j.State == 2 { // deleted
			continue
		}
		s := config.Subject{ProjectID: j.ProjectID, EnvironmentID: j.EnvironmentID, JobID: j.ID,
			ProjectName: projectNames[j.ProjectID], EnvironmentName: envNames[j.EnvironmentID], JobName: j.Name}
		switch {
		case a.Skip(s) != "":
		case j.IsCI():
			ci++
		default:
			scope = append(scope, j)
		}
	}
	if len(scope) == 0 {
		r.warn("jobs", fmt.Sprintf("no deploy job to harvest (%d jobs in the account, %d of them CI)", len(jobs), ci),
			"create a deploy job (Deploy → Jobs → Create job → Deploy job), or widen the include/exclude lists")
		return nil
	}
	names := make([]named, 0, len(scope))
	for _, j := range scope {
		names = append(names, named{j.ID, j.Name})
	}
	r.pass("jobs", fmt.Sprintf("%d deploy job(s) to harvest: %s", len(scope), describe(names)))
	return scope
}

// checkJobSettings warns about each job whose settings leave metadata out.
func checkJobSettings(r *report, jobs []dbtcloud.Job) {
	var noDocs, noFresh []named
	for _, j := range jobs {
		if !j.GenerateDocs {
			noDocs = append(noDocs, named{j.ID, j.Name})
		}
		if !j.RunGenerateSources {
			noFresh = append(noFresh, named{j.ID, j.Name})
		}
	}
	if len(jobs) == 0 {
		return
	}
	setting := func(check, label, loss string, off []named) {
		if len(off) == 0 {
			r.pass(check, fmt.Sprintf("%q is on for every job", label))
			return
		}
		for _, j := range off {
			r.warn(check, fmt.Sprintf("job %d %q: %q is off, so %s", j.id, j.name, label, loss),
				fmt.Sprintf("turn on %q in job %d's settings (Deploy → Jobs → %s → Edit → Execution settings)", label, j.id, j.name))
		}
	}
	setting("generate_docs", "Generate docs on run", "runs have no catalog.json: no column types, only the YAML's", noDocs)
	setting("source_freshness", "Run source freshness", "runs have no sources.json: sources carry no freshness", noFresh)
}

// checkRecentRun looks for a recent successful run of a job in scope that
// has a manifest to harvest.
func checkRecentRun(ctx context.Context, r *report, c *dbtcloud.Client, a config.Account, jobs []dbtcloud.Job, opts Options) {
	if len(jobs) == 0 {
		return
	}
	ids := make([]int64, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	runs, err := c.ListRuns(ctx, dbtcloud.RunFilter{Status: dbtcloud.StatusSuccess, OrderBy: "-finished_at", Limit: 50})
	if err != nil {
		r.fail("recent_run", detail(err), readFix(err, "Job Viewer (or Account Viewer)"))
		return
	}
	i := slices.IndexFunc(runs, func(run dbtcloud.Run) bool { return slices.Contains(ids, run.JobDefinitionID) })
	if i < 0 {
		r.warn("recent_run", "no successful run of a job to harvest among the account's latest",
			"run one of the jobs (Deploy → Jobs → Run now), then `harvester backfill --job J --since 1d`")
		return
	}
	run := runs[i]
	paths, err := c.ListArtifacts(ctx, run.ID, 0)
	switch {
	case err != nil:
		r.fail("recent_run", fmt.Sprintf("run %d: %s", run.ID, detail(err)), readFix(err, "Job Viewer (or Account Viewer)"))
	case !slices.Contains(paths, "manifest.json"):
		r.warn("recent_run", fmt.Sprintf("run %d of job %d has no manifest.json among its %d artifacts", run.ID, run.JobDefinitionID, len(paths)),
			"make sure the job runs a dbt command that parses the project (dbt build, run, test …)")
	case opts.Now().Sub(run.FinishedAt) > opts.RecentRun:
		r.warn("recent_run", fmt.Sprintf("the latest successful run, %d of job %d, finished %s ago", run.ID, run.JobDefinitionID,
			opts.Now().Sub(run.FinishedAt).Round(time.Hour)), "check the jobs' schedules")
	default:
		r.pass("recent_run", fmt.Sprintf("run %d of job %d succeeded at %s with %d artifacts", run.ID, run.JobDefinitionID,
			run.FinishedAt.UTC().Format(time.RFC3339), len(paths)))
	}
}
