package gen

import (
	"fmt"
	"time"
)

type freshnessResult struct {
	UniqueID              string    `json:"unique_id"`
	MaxLoadedAt           string    `json:"max_loaded_at"`
	SnapshottedAt         string    `json:"snapshotted_at"`
	MaxLoadedAtTimeAgoInS float64   `json:"max_loaded_at_time_ago_in_s"`
	Status                string    `json:"status"`
	Criteria              freshness `json:"criteria"`
	AdapterResponse       object0   `json:"adapter_response"`
	Timing                []timing  `json:"timing"`
	ThreadID              string    `json:"thread_id"`
	ExecutionTime         float64   `json:"execution_time"`
}

// writeSourceFreshness writes sources.json: one result per source whose
// group has freshness criteria, as "dbt source freshness" does before the build.
func (p *plan) writeSourceFreshness(j *jsonWriter) {
	start := p.opts.GeneratedAt.Add(-3 * time.Minute)
	ru := &runner{p: p, r: p.rng(0, 8), start: start}
	var results []int32
	for i := range p.nodes {
		if n := &p.nodes[i]; n.kind == kindSource && p.groups[n.src].sys.freshness {
			results = append(results, int32(i))
		}
	}
	top := j.open("")
	top.member("metadata", p.artifactMetadata("sources/v3", p.opts.GeneratedAt.Add(-10*time.Second)))
	top.key("results")
	j.raw("[")
	for k, i := range results {
		if k > 0 {
			j.raw(",")
		}
		j.value(p.freshnessResult(ru, i))
	}
	j.raw("]")
	top.member("elapsed_time", ru.elapsed())
	top.close()
}

func (p *plan) freshnessResult(ru *runner, i int32) freshnessResult {
	n := &p.nodes[i]
	crit := p.freshness(p.groups[n.src])
	warn := time.Duration(*crit.WarnAfter.Count) * time.Hour
	errAfter := time.Duration(*crit.ErrorAfter.Count) * time.Hour
	status := "pass"
	age := time.Duration(ru.r.Int64N(int64(warn)))
	switch x := ru.r.IntN(40); {
	case x < 2:
		status, age = "error", errAfter+time.Duration(ru.r.Int64N(int64(48*time.Hour)))
	case x < 6:
		status, age = "warn", warn+time.Duration(ru.r.Int64N(int64(errAfter-warn)))
	}
	compile, exec := ru.ms(1, 5), ru.ms(60, 1200)
	th, t := ru.slot(compile, exec)
	snap, _ := time.Parse("2006-01-02T15:04:05.000000Z", t[1].CompletedAt)
	snap = snap.Truncate(time.Second)
	age = age.Truncate(time.Microsecond)
	return freshnessResult{
		UniqueID: n.uid, MaxLoadedAt: snap.Add(-age).Format("2006-01-02T15:04:05.000000+00:00"),
		SnapshottedAt: snap.Format("2006-01-02T15:04:05+00:00"), MaxLoadedAtTimeAgoInS: age.Seconds(),
		Status: status, Criteria: *crit, AdapterResponse: object0{},
		Timing: t, ThreadID: fmt.Sprintf("Thread-%d (worker)", th+1),
		ExecutionTime: float64((compile+exec)/time.Microsecond) / 1e6,
	}
}
