package devcloud

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pyTime is the layout of v2 run timestamps: Python's str(datetime).
const pyTime = "2006-01-02 15:04:05.000000+00:00"

// stepKind says which artifacts a step leaves in target/.
type stepKind int

const (
	kindSetup stepKind = iota
	kindFreshness
	kindBuild
	kindDocs
)

type stepSpec struct {
	name string
	kind stepKind
	dur  time.Duration
}

// runSpec is one simulated run of the job.
type runSpec struct {
	id       int64
	status   int
	finished time.Time // the run's finished_at; the other times derive from it
}

// makeSteps is the step list of every run of the job.
func makeSteps(hasSources, hasDocs bool) []stepSpec {
	steps := []stepSpec{
		{"Clone Git Repository", kindSetup, 3 * time.Second},
		{"Create Profile from Connection Snowflake", kindSetup, time.Second},
		{"Invoke dbt with `dbt deps`", kindSetup, 6 * time.Second},
	}
	if hasSources {
		steps = append(steps, stepSpec{"Invoke dbt with `dbt source freshness`", kindFreshness, 12 * time.Second})
	}
	steps = append(steps, stepSpec{"Invoke dbt with `dbt build`", kindBuild, 94 * time.Second})
	if hasDocs {
		steps = append(steps, stepSpec{"Invoke dbt with `dbt docs generate`", kindDocs, 21 * time.Second})
	}
	return steps
}

// makeRuns places the configured run 5 minutes before now and the extra
// runs a day apart before it.
func makeRuns(cfg Config, now time.Time) []runSpec {
	last := now.UTC().Add(-5 * time.Minute).Truncate(time.Microsecond)
	runs := make([]runSpec, 0, cfg.ExtraRuns+1)
	for i := cfg.ExtraRuns; i >= 1; i-- {
		runs = append(runs, runSpec{id: cfg.RunID - int64(i), status: statusSuccess, finished: last.Add(-time.Duration(i) * 24 * time.Hour)})
	}
	return append(runs, runSpec{id: cfg.RunID, status: cfg.RunStatus, finished: last})
}

func (s *Server) findRun(id int64) (runSpec, bool) {
	i, ok := slices.BinarySearchFunc(s.runs, id, func(r runSpec, id int64) int { return cmp.Compare(r.id, id) })
	if !ok {
		return runSpec{}, false
	}
	return s.runs[i], true
}

// stepTimes are a step's start and end.
type stepTimes struct{ start, end time.Time }

// runSteps are the steps this run ran: a cancelled run stops at the build
// step, an errored one still runs the docs step (checkbox steps do not
// depend on the commands' outcome).
func (s *Server) runSteps(run runSpec) ([]stepSpec, []stepTimes) {
	steps := s.steps
	if run.status == statusCancelled {
		i := slices.IndexFunc(steps, func(st stepSpec) bool { return st.kind == kindBuild })
		steps = steps[:i+1]
	}
	var total time.Duration
	for _, st := range steps {
		total += st.dur
	}
	t := run.finished.Add(-total - time.Second)
	times := make([]stepTimes, len(steps))
	for i, st := range steps {
		times[i] = stepTimes{t, t.Add(st.dur)}
		t = t.Add(st.dur)
	}
	return steps, times
}

func stepStatus(run runSpec, st stepSpec) int {
	if st.kind == kindBuild {
		return run.status
	}
	return statusSuccess
}

func humanStatus(code int) string {
	switch code {
	case 1:
		return "Queued"
	case 2:
		return "Starting"
	case statusRunning:
		return "Running"
	case statusSuccess:
		return "Success"
	case statusError:
		return "Error"
	case statusCancelled:
		return "Cancelled"
	}
	return "Unknown"
}

func pyTS(t time.Time) *string {
	v := t.UTC().Format(pyTime)
	return &v
}

// clock is dbt's "HH:MM:SS" duration.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

// humanize is dbt's "1 minute, 50 seconds".
func humanize(d time.Duration) string {
	d = d.Round(time.Second)
	unit := func(n int, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return strconv.Itoa(n) + " " + name + "s"
	}
	switch {
	case d >= 24*time.Hour:
		days, hours := int(d.Hours())/24, int(d.Hours())%24
		if hours == 0 {
			return unit(days, "day")
		}
		return unit(days, "day") + ", " + unit(hours, "hour")
	case d >= time.Hour:
		return unit(int(d.Hours()), "hour") + ", " + unit(int(d.Minutes())%60, "minute")
	case d >= time.Minute:
		return unit(int(d.Minutes()), "minute") + ", " + unit(int(d.Seconds())%60, "second")
	}
	return unit(int(d.Seconds()), "second")
}

// related parses include_related in the forms dbt accepts: ["a","b"],
// ['a','b'] and a,b.
func related(q string) map[string]bool {
	q = strings.Trim(strings.TrimSpace(q), "[]")
	out := map[string]bool{}
	for f := range strings.SplitSeq(q, ",") {
		if f = strings.Trim(strings.TrimSpace(f), `"' `); f != "" {
			out[f] = true
		}
	}
	return out
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "run")
	if !ok {
		return
	}
	run, ok := s.findRun(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Run with id %d was not found.", id))
		return
	}
	writeData(w, s.runJSON(run, related(r.URL.Query().Get("include_related")), time.Now()), nil)
}

// listRuns serves runs/ with dbt's filters, ordering and pagination.
func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filters := map[string]any{"account_id": s.cfg.AccountID}
	ints := map[string]int64{}
	for _, k := range []string{"job_definition_id", "environment_id", "project_id", "status", "id__gt"} {
		if v := q.Get(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value for %s: %q", k, v))
				return
			}
			ints[k], filters[k] = n, n
		}
	}
	limit, offset, ok := paging(w, q.Get("limit"), q.Get("offset"))
	if !ok {
		return
	}
	filters["limit"], filters["offset"] = limit, offset
	orderBy := cmp.Or(q.Get("order_by"), "id")
	field := strings.TrimPrefix(orderBy, "-")
	if field != "id" && field != "created_at" && field != "finished_at" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid order_by field: %q", orderBy))
		return
	}
	var match []runSpec
	for _, run := range s.runs {
		if v, set := ints["job_definition_id"]; set && v != s.cfg.JobID ||
			ints["environment_id"] != 0 && ints["environment_id"] != s.cfg.EnvironmentID ||
			ints["project_id"] != 0 && ints["project_id"] != s.cfg.ProjectID ||
			ints["status"] != 0 && ints["status"] != int64(run.status) ||
			run.id <= ints["id__gt"] {
			continue
		}
		match = append(match, run)
	}
	// Every time of a run is monotonic in its ID here, so one order serves all fields.
	if strings.HasPrefix(orderBy, "-") {
		slices.Reverse(match)
	}
	page := match[min(offset, len(match)):min(offset+limit, len(match))]
	rel := related(q.Get("include_related"))
	delete(rel, "run_steps") // not a list include
	now := time.Now()
	data := make([]any, len(page))
	for i, run := range page {
		data[i] = s.runJSON(run, rel, now)
	}
	writeData(w, data, map[string]any{
		"filters":    filters,
		"order_by":   orderBy,
		"pagination": map[string]int{"count": len(page), "total_count": len(match)},
	})
}

// paging reads limit (default 100, clamped to 100) and offset.
func paging(w http.ResponseWriter, l, o string) (limit, offset int, ok bool) {
	limit, offset = 100, 0
	var err error
	if l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid limit: %q", l))
			return 0, 0, false
		}
		limit = min(limit, 100)
	}
	if o != "" {
		if offset, err = strconv.Atoi(o); err != nil || offset < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid offset: %q", o))
			return 0, 0, false
		}
	}
	return limit, offset, true
}
