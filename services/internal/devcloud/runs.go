package devcloud

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
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
	kindSetup     stepKind = iota
	kindFreshness          // `dbt source freshness`: sources.json
	kindCommand            // one of the job's execute_steps
	kindDocs               // `dbt docs generate`: catalog.json
)

type stepSpec struct {
	name  string
	kind  stepKind
	dur   time.Duration
	which string // the command's args.which in run_results.json ("build", "run", …)
}

// makeSteps is the step list of every run of j, in dbt Cloud's order:
// clone, profile, deps, the freshness step when "Run source freshness" is
// on, one step per command, and docs generate last when "Generate docs on
// run" is on.
func makeSteps(j *job) []stepSpec {
	steps := []stepSpec{
		{"Clone Git Repository", kindSetup, 3 * time.Second, ""},
		{"Create Profile from Connection Snowflake", kindSetup, time.Second, ""},
		{"Invoke dbt with `dbt deps`", kindSetup, 6 * time.Second, "deps"},
	}
	if j.runGenerateSources {
		steps = append(steps, stepSpec{"Invoke dbt with `dbt source freshness`", kindFreshness, 12 * time.Second, "freshness"})
	}
	for i, cmd := range j.executeSteps {
		which := commandWhich(cmd)
		kind, dur := kindCommand, 40*time.Second
		if i == 0 {
			dur = 94 * time.Second
		}
		if which == "freshness" {
			kind = kindFreshness
		}
		steps = append(steps, stepSpec{"Invoke dbt with `" + strings.TrimSpace(cmd) + "`", kind, dur, which})
	}
	if j.generateDocs {
		steps = append(steps, stepSpec{"Invoke dbt with `dbt docs generate`", kindDocs, 21 * time.Second, "generate"})
	}
	return steps
}

// commandWhich is a command's args.which: its subcommand ("dbt run -s x" →
// "run"), the second word for `dbt source freshness` and `dbt docs generate`.
func commandWhich(cmd string) string {
	var words []string
	for _, f := range strings.Fields(cmd) {
		if !strings.HasPrefix(f, "-") {
			words = append(words, f)
		}
	}
	if len(words) > 0 && words[0] == "dbt" {
		words = words[1:]
	}
	switch {
	case len(words) == 0:
		return ""
	case (words[0] == "source" || words[0] == "docs") && len(words) > 1:
		return words[1]
	}
	return words[0]
}

func totalDuration(steps []stepSpec) time.Duration {
	var total time.Duration
	for _, st := range steps {
		total += st.dur
	}
	return total
}

// stepTimes are a step's start and end.
type stepTimes struct{ start, end time.Time }

// runSteps are the steps run r ran (so far), their times and statuses: a
// running run is at its first command step; a cancelled one stopped there;
// an errored one failed at its last command step and still ran the docs
// step (checkbox steps do not depend on the commands' outcome).
func runSteps(r *run, now time.Time) ([]stepSpec, []stepTimes, []int) {
	steps := r.job.steps
	firstCmd := slices.IndexFunc(steps, func(st stepSpec) bool { return st.kind == kindCommand })
	lastCmd := firstCmd
	for i, st := range steps {
		if st.kind == kindCommand {
			lastCmd = i
		}
	}
	if r.status == statusRunning || r.status == statusCancelled {
		steps = steps[:firstCmd+1]
	}
	codes := make([]int, len(steps))
	for i := range codes {
		codes[i] = statusSuccess
	}
	switch r.status {
	case statusRunning, statusCancelled:
		codes[len(codes)-1] = r.status
	case statusError:
		codes[lastCmd] = statusError
	}
	end := r.finished
	if !r.complete() {
		end = now
	}
	total := totalDuration(steps)
	span := end.Sub(r.started)
	if !r.complete() {
		span = max(span, total)
	}
	scale := 1.0
	if span < total+time.Second {
		scale = float64(span) / float64(total+time.Second)
	}
	times := make([]stepTimes, len(steps))
	t := r.started
	for i, st := range steps {
		d := time.Duration(float64(st.dur) * scale)
		times[i] = stepTimes{t, t.Add(d)}
		t = t.Add(d)
	}
	return steps, times, codes
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
	s.mu.Lock()
	rn := s.findRun(id)
	var o *runObject
	if rn != nil && rn.job.acct() == s.requestAccount(r) {
		o = s.runJSON(rn, related(r.URL.Query().Get("include_related")), time.Now())
	}
	s.mu.Unlock()
	if o == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Run with id %d was not found.", id))
		return
	}
	writeData(w, o, nil)
}

// runQuery is a parsed runs/ filter.
type runQuery struct {
	ints     map[string]int64
	statuses []int64
	lo, hi   time.Time // finished_at__range, inclusive
	ranged   bool
	orderBy  string
}

func parseRunQuery(q url.Values, filters map[string]any) (runQuery, error) {
	rq := runQuery{ints: map[string]int64{}, orderBy: cmp.Or(q.Get("order_by"), "id")}
	for _, k := range []string{"job_definition_id", "environment_id", "project_id", "status", "id__gt"} {
		if v := q.Get(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return rq, fmt.Errorf("Invalid value for %s: %q", k, v) //nolint:staticcheck // dbt Cloud's wording
			}
			rq.ints[k], filters[k] = n, n
		}
	}
	if v := q.Get("status__in"); v != "" {
		for _, f := range listValues(v) {
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return rq, fmt.Errorf("Invalid value for status__in: %q", v) //nolint:staticcheck // dbt Cloud's wording
			}
			rq.statuses = append(rq.statuses, n)
		}
		filters["status__in"] = rq.statuses
	}
	if v := q.Get("finished_at__range"); v != "" {
		parts := listValues(v)
		if len(parts) != 2 {
			return rq, fmt.Errorf("Invalid value for finished_at__range: %q", v) //nolint:staticcheck // dbt Cloud's wording
		}
		var err error
		if rq.lo, err = parseFilterTime(parts[0]); err == nil {
			rq.hi, err = parseFilterTime(parts[1])
		}
		if err != nil {
			return rq, fmt.Errorf("Invalid value for finished_at__range: %q", v) //nolint:staticcheck // dbt Cloud's wording
		}
		rq.ranged, filters["finished_at__range"] = true, parts
	}
	field := strings.TrimPrefix(rq.orderBy, "-")
	if field != "id" && field != "created_at" && field != "finished_at" {
		return rq, fmt.Errorf("Invalid order_by field: %q", rq.orderBy) //nolint:staticcheck // dbt Cloud's wording
	}
	return rq, nil
}

// listValues reads a list parameter in the forms clients send: ["a","b"],
// ['a','b'], [1,2] and a,b.
func listValues(v string) []string {
	var out []string
	for f := range strings.SplitSeq(strings.Trim(strings.TrimSpace(v), "[]"), ",") {
		if f = strings.Trim(strings.TrimSpace(f), `"' `); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseFilterTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", v)
}

func (rq runQuery) match(r *run) bool {
	j := r.job
	if v, ok := rq.ints["job_definition_id"]; ok && v != j.id ||
		rq.ints["environment_id"] != 0 && rq.ints["environment_id"] != j.env.id ||
		rq.ints["project_id"] != 0 && rq.ints["project_id"] != j.env.proj.id ||
		rq.ints["status"] != 0 && rq.ints["status"] != int64(r.status) ||
		len(rq.statuses) > 0 && !slices.Contains(rq.statuses, int64(r.status)) ||
		r.id <= rq.ints["id__gt"] {
		return false
	}
	if rq.ranged && (!r.complete() || r.finished.Before(rq.lo) || r.finished.After(rq.hi)) {
		return false
	}
	return true
}

// sort orders runs as Postgres would: nulls (unfinished runs) last when
// ascending, first when descending.
func (rq runQuery) sort(runs []*run) {
	field := strings.TrimPrefix(rq.orderBy, "-")
	key := func(r *run) (time.Time, bool) {
		switch field {
		case "created_at":
			return r.created, true
		case "finished_at":
			return r.finished, r.complete()
		}
		return time.Time{}, true
	}
	slices.SortStableFunc(runs, func(a, b *run) int {
		ka, oka := key(a)
		kb, okb := key(b)
		c := 0
		switch {
		case oka != okb:
			c = map[bool]int{true: -1, false: 1}[oka]
		case field != "id":
			c = ka.Compare(kb)
		}
		return cmp.Or(c, cmp.Compare(a.id, b.id))
	})
	if strings.HasPrefix(rq.orderBy, "-") {
		slices.Reverse(runs)
	}
}

// listRuns serves runs/ with dbt's filters, ordering and pagination.
func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a := s.requestAccount(r)
	filters := map[string]any{"account_id": a.id}
	rq, err := parseRunQuery(q, filters)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, offset, ok := paging(w, q.Get("limit"), q.Get("offset"), 100)
	if !ok {
		return
	}
	filters["limit"], filters["offset"] = limit, offset
	rel := related(q.Get("include_related"))
	delete(rel, "run_steps") // not a list include
	now := time.Now()
	s.mu.Lock()
	var match []*run
	for _, rn := range s.runs {
		if rn.job.acct() == a && rq.match(rn) {
			match = append(match, rn)
		}
	}
	rq.sort(match)
	page := match[min(offset, len(match)):min(offset+limit, len(match))]
	data := make([]any, len(page))
	for i, rn := range page {
		data[i] = s.runJSON(rn, rel, now)
	}
	s.mu.Unlock()
	writeData(w, data, map[string]any{
		"filters":    filters,
		"order_by":   rq.orderBy,
		"pagination": map[string]int{"count": len(page), "total_count": len(match)},
	})
}

// paging reads limit (default def, clamped to 100) and offset.
func paging(w http.ResponseWriter, l, o string, def int) (limit, offset int, ok bool) {
	limit, offset = def, 0
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
