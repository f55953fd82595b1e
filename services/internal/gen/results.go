package gen

import (
	"fmt"
	"math/rand/v2"
	"time"
)

type timing struct {
	Name        string `json:"name"`
	StartedAt   string `json:"started_at"`
	CompletedAt string `json:"completed_at"`
}

type runResult struct {
	Status          string   `json:"status"`
	Timing          []timing `json:"timing"`
	ThreadID        string   `json:"thread_id"`
	ExecutionTime   float64  `json:"execution_time"`
	AdapterResponse object0  `json:"adapter_response"`
	Message         *string  `json:"message"`
	Failures        *int     `json:"failures"`
	UniqueID        string   `json:"unique_id"`
	Compiled        *bool    `json:"compiled"`
	CompiledCode    *string  `json:"compiled_code"`
	RelationName    *string  `json:"relation_name"`
	BatchResults    any      `json:"batch_results"`
}

const threads = 4

// runner simulates dbt's worker threads: each result goes to the thread
// that frees up first, so timings are plausible and deterministic. A dry
// runner only schedules, to learn the run's end before it is written.
type runner struct {
	p       *plan
	r       *rand.Rand // timings
	resp    *rand.Rand // row counts and adapter responses
	dry     bool
	start   time.Time
	clock   [threads]time.Duration
	failing map[int32]bool
	skipped map[int32]bool
}

func (p *plan) newRunner(dry bool) *runner {
	return &runner{p: p, r: p.rng(0, 5), resp: p.rng(0, 7), dry: dry, start: p.opts.GeneratedAt.Add(2 * time.Second),
		failing: p.failingTests(), skipped: map[int32]bool{}}
}

func (p *plan) writeRunResults(j *jsonWriter) {
	order := p.buildOrder()
	dry := p.newRunner(true)
	for _, i := range order {
		dry.result(i)
	}
	ru := p.newRunner(false)
	top := j.open("")
	top.member("metadata", p.artifactMetadata("run-results/v6", ru.start.Add(time.Duration(dry.elapsed()*float64(time.Second)))))
	top.key("results")
	j.raw("[")
	for k, i := range order {
		if k > 0 {
			j.raw(",")
		}
		j.value(ru.result(i))
	}
	j.raw("]")
	top.member("elapsed_time", ru.elapsed())
	top.member("args", p.runArgs())
	top.close()
}

// buildOrder is the order dbt build runs things in: each source's, seed's
// and model's tests right after it, unit tests right before their model.
func (p *plan) buildOrder() []int32 {
	var out []int32
	unit := map[int32][]int32{}
	for i := range p.nodes {
		if p.nodes[i].kind == kindUnitTest {
			unit[p.nodes[i].parents[0]] = append(unit[p.nodes[i].parents[0]], int32(i))
		}
	}
	for i := range p.nodes {
		n := &p.nodes[i]
		switch n.kind {
		case kindModel, kindSeed, kindSnapshot, kindSource:
		default:
			continue
		}
		out = append(out, unit[int32(i)]...)
		if n.kind != kindSource {
			out = append(out, int32(i))
		}
		for _, c := range p.children[i] {
			if t := p.nodes[c].test; t != nil && t.attached == int32(i) {
				out = append(out, c)
			}
		}
	}
	return out
}

// failingTests picks Options.FailingTests tests, preferring tests on models
// nothing else is built from, so that a failure skips little.
func (p *plan) failingTests() map[int32]bool {
	var leaf, other []int32
	for i := range p.nodes {
		t := p.nodes[i].test
		if t == nil || t.macro == "" {
			continue
		}
		if p.hasModelChild(t.attached) || p.nodes[t.attached].kind != kindModel {
			other = append(other, int32(i))
		} else {
			leaf = append(leaf, int32(i))
		}
	}
	r := p.rng(0, 6)
	r.Shuffle(len(leaf), func(a, b int) { leaf[a], leaf[b] = leaf[b], leaf[a] })
	r.Shuffle(len(other), func(a, b int) { other[a], other[b] = other[b], other[a] })
	out := map[int32]bool{}
	for _, i := range append(leaf, other...)[:min(p.opts.FailingTests, len(leaf)+len(other))] {
		out[i] = true
	}
	return out
}

func (p *plan) hasModelChild(i int32) bool {
	for _, c := range p.children[i] {
		if k := p.nodes[c].kind; k == kindModel || k == kindSnapshot {
			return true
		}
	}
	return false
}

// skipDownstream marks every model and snapshot built from i as skipped.
func (ru *runner) skipDownstream(i int32) {
	for _, c := range ru.p.children[i] {
		if k := ru.p.nodes[c].kind; (k == kindModel || k == kindSnapshot) && !ru.skipped[c] {
			ru.skipped[c] = true
			ru.skipDownstream(c)
		}
	}
}

func (ru *runner) isSkipped(i int32) bool {
	if ru.skipped[i] {
		return true
	}
	for _, par := range ru.p.nodes[i].parents {
		if ru.skipped[par] {
			return true
		}
	}
	return false
}

func (ru *runner) elapsed() float64 {
	var m time.Duration
	for _, c := range ru.clock {
		m = max(m, c)
	}
	return (m + 2*time.Second + 500*time.Millisecond).Seconds()
}

// slot books compile and exec on the thread that frees up first.
func (ru *runner) slot(compile, exec time.Duration) (thread int, t []timing) {
	for k := range ru.clock {
		if ru.clock[k] < ru.clock[thread] {
			thread = k
		}
	}
	s := ru.start.Add(ru.clock[thread])
	c := s.Add(compile)
	e := c.Add(exec)
	ru.clock[thread] += compile + exec + 3*time.Millisecond
	return thread, []timing{{"compile", timestamp(s), timestamp(c)}, {"execute", timestamp(c), timestamp(e)}}
}

func (ru *runner) ms(lo, hi int) time.Duration {
	return time.Duration(lo+ru.r.IntN(hi-lo)) * time.Millisecond
}

func (ru *runner) result(i int32) runResult {
	p, n := ru.p, &ru.p.nodes[i]
	res := runResult{UniqueID: n.uid, AdapterResponse: object0{}}
	if ru.isSkipped(i) {
		ru.skipped[i] = true
		res.Status, res.Timing, res.ThreadID, res.Compiled = "skipped", []timing{}, "Thread-1 (worker)", ptr(false)
		if n.kind != kindTest && n.kind != kindUnitTest {
			res.RelationName = ptr(p.relation(i))
		}
		return res
	}
	compile, exec := ru.ms(4, 60), ru.execTime(n)
	th, t := ru.slot(compile, exec)
	res.Timing, res.ThreadID = t, fmt.Sprintf("Thread-%d (worker)", th+1)
	res.ExecutionTime = float64((compile+exec)/time.Microsecond) / 1e6
	if n.kind == kindTest && ru.failing[i] && !n.test.warn {
		ru.skipDownstream(n.test.attached)
	}
	if !ru.dry {
		ru.fill(i, n, &res)
	}
	return res
}

func (ru *runner) execTime(n *node) time.Duration {
	switch {
	case n.kind == kindTest, n.kind == kindUnitTest:
		return ru.ms(40, 1500)
	case n.kind == kindSeed:
		return ru.ms(300, 2000)
	case n.mat == "view":
		return ru.ms(80, 600)
	case n.layer == layerMart:
		return ru.ms(800, 9000)
	}
	return ru.ms(400, 5000)
}

// fill sets status, message and adapter response of a result that ran.
func (ru *runner) fill(i int32, n *node, res *runResult) {
	p := ru.p
	switch n.kind {
	case kindSeed:
		rows := 12
		res.Status, res.AdapterResponse, res.Message = "success", p.adapterResponse("INSERT", rows, ru.resp), ptr(fmt.Sprintf("INSERT %d", rows))
		res.CompiledCode = ptr("")
		return
	case kindUnitTest:
		res.Status, res.Failures, res.Compiled = "pass", ptr(0), ptr(true)
		res.CompiledCode = ptr("-- unit test: expected rows against " + p.nodes[n.parents[0]].name + " given fixtures\nselect 1 as dbt_internal_unit_test_result\n")
		res.AdapterResponse = p.adapterResponse("SELECT", 2, ru.resp)
		return
	case kindTest:
		ru.fillTest(i, n, res)
		return
	}
	rows := ru.resp.IntN(2_000_000)
	code := "SELECT"
	switch n.mat {
	case "view":
		code, rows = "CREATE VIEW", -1
	case "incremental":
		code, rows = "INSERT", ru.resp.IntN(50_000)
	}
	res.Status, res.Compiled = "success", ptr(true)
	res.AdapterResponse = p.adapterResponse(code, rows, ru.resp)
	res.Message = ptr(res.AdapterResponse["_message"].(string))
	res.RelationName = ptr(p.relation(i))
	if n.kind == kindSnapshot {
		res.CompiledCode = ptr(p.snapshotSQL(n, true))
	} else {
		res.CompiledCode = ptr(p.modelSQL(i, p.description(i), true))
	}
}

func (ru *runner) fillTest(i int32, n *node, res *runResult) {
	p := ru.p
	res.Compiled, res.CompiledCode = ptr(true), ptr(p.testSQL(n, true))
	res.AdapterResponse = p.adapterResponse("SELECT", 1, ru.resp)
	res.Status, res.Failures = "pass", ptr(0)
	if !ru.failing[i] {
		return
	}
	f := 1 + ru.resp.IntN(400)
	res.Failures = &f
	if n.test.warn {
		res.Status, res.Message = "warn", ptr(fmt.Sprintf("Got %d results, configured to warn if != 0", f))
		return
	}
	res.Status, res.Message = "fail", ptr(fmt.Sprintf("Got %d results, configured to fail if != 0", f))
}

// adapterResponse is what the adapter returns for one statement.
func (p *plan) adapterResponse(code string, rows int, r *rand.Rand) object0 {
	switch p.d.name {
	case "snowflake":
		return object0{"_message": "SUCCESS 1", "code": "SUCCESS", "rows_affected": 1, "query_id": uuid(r)[:23]}
	case "bigquery":
		b := (rows + 1) * 180
		return object0{"_message": fmt.Sprintf("%s (%d rows, %d Bytes processed)", code, max(rows, 0), b), "code": code,
			"rows_affected": max(rows, 0), "bytes_processed": b, "bytes_billed": 10485760, "location": "US",
			"project_id": p.d.database, "job_id": uuid(r), "slot_ms": r.IntN(50_000)}
	case "databricks":
		return object0{"_message": "OK", "code": "OK", "rows_affected": rows}
	}
	msg := code
	switch {
	case code == "INSERT":
		msg = fmt.Sprintf("INSERT 0 %d", rows)
	case rows >= 0:
		msg = fmt.Sprintf("%s %d", code, rows)
	}
	return object0{"_message": msg, "code": code, "rows_affected": rows}
}

func (p *plan) runArgs() object0 {
	return object0{
		"which": "build", "invocation_command": "dbt build --target prod", "select": []string{}, "exclude": []string{},
		"resource_types": []string{}, "exclude_resource_types": []string{}, "indirect_selection": "eager", "vars": object0{},
		"threads": threads, "target": "prod", "defer": false, "favor_state": false, "partial_parse": true,
		"profiles_dir": "/tmp/jobs/" + p.opts.InvocationID[:8] + "/.dbt", "project_dir": "/tmp/jobs/" + p.opts.InvocationID[:8] + "/target",
		"log_format": "json", "log_level": "info", "log_level_file": "debug", "write_json": true, "populate_cache": true,
		"introspect": true, "static_parser": true, "version_check": true, "send_anonymous_usage_stats": false,
		"warn_error_options": object0{"include": []string{}, "exclude": []string{}}, "empty": false, "quiet": false,
		"print": true, "use_colors": false, "printer_width": 80, "macro_debugging": false, "cache_selected_only": false,
		"show_resource_report": false, "strict_mode": false, "log_file_max_bytes": 10485760,
		"require_explicit_package_overrides_for_builtin_materializations": true,
	}
}
