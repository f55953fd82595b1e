package chaos

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/dbt-harvester/harvester/events"
)

// row is one scenario's figures for the table `make chaos` prints.
type row struct {
	scenario          string
	webhooks, ok2xx   int
	harvested, failed int
	doubles, lost     int
	took              time.Duration
}

var (
	reportMu sync.Mutex
	rows     []row
)

func record(r row) {
	reportMu.Lock()
	rows = append(rows, r)
	reportMu.Unlock()
}

// writeReport prints the figures table to stdout and, if path is set, to path.
func writeReport(path string) error {
	reportMu.Lock()
	defer reportMu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\twebhooks\t2xx\tharvested\tfailed\tdoubles\tlost\ttime\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", r.scenario, r.webhooks, r.ok2xx, r.harvested, r.failed,
			r.doubles, r.lost, r.took.Round(100*time.Millisecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Print(b.String())
	if path == "" {
		return nil
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// waitOutcome polls the streams until every run in want has a
// harvest.completed (or, with failedOK, a harvest.failed) or the deadline
// passes; then it reads once more after a pause, so that a late double
// shows. took is from `from` to the last run's harvest event seen.
func (h *harness) waitOutcome(want map[int64]bool, from, deadline time.Time, failedOK bool) (outcome, time.Duration) {
	h.t.Helper()
	var o outcome
	var err error
	for {
		ctx, cancel := context.WithTimeout(h.t.Context(), 5*time.Second)
		o, err = h.readOutcome(ctx)
		cancel()
		if err == nil && len(missing(o, want, failedOK)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				h.t.Logf("reading the streams: %v", err)
			}
			break
		}
		time.Sleep(time.Second)
	}
	took := time.Since(from)
	time.Sleep(3 * time.Second)
	ctx, cancel := context.WithTimeout(h.t.Context(), 30*time.Second)
	defer cancel()
	if o2, err := h.readOutcome(ctx); err == nil {
		o = o2
	} else {
		h.t.Errorf("reading the streams: %v", err)
	}
	return o, took
}

// missing are the runs of want without the harvest event they need.
func missing(o outcome, want map[int64]bool, failedOK bool) []int64 {
	var out []int64
	for run := range want {
		if o.completed[run][1] > 0 || (failedOK && len(o.failed[run]) > 0) {
			continue
		}
		out = append(out, run)
	}
	slices.Sort(out)
	return out
}

// check asserts the guarantees on what the streams hold and records the
// scenario's row: every 2xx'd webhook is on DBT_RUNS; every run with a
// 2xx'd webhook has exactly one harvest.completed of generation 1 (or,
// with failedOK, exactly one harvest.failed with a reason instead); no run
// has two harvest events of one generation.
func (h *harness) check(name string, l *load, o outcome, took time.Duration, failedOK bool) row {
	t := h.t
	t.Helper()
	want := l.accepted()
	r := row{scenario: name, webhooks: len(l.hooks), ok2xx: l.count2xx(), took: took}
	for _, w := range l.hooks {
		if w.ok && o.runEvents[w.eventID] == 0 {
			t.Errorf("webhook %s (run %d) was answered %v but is not on %s", w.eventID, w.run, w.codes, events.StreamRuns)
		}
	}
	lost := missing(o, want, failedOK)
	r.lost = len(lost)
	if len(lost) > 0 {
		t.Errorf("%d of %d runs with a 2xx webhook have no harvest event: %v", len(lost), len(want), head(lost))
		h.diagnose(lost)
	}
	runs := map[int64]bool{}
	for run := range o.completed {
		runs[run] = true
	}
	for run := range o.failed {
		runs[run] = true
	}
	for run := range runs {
		completed, failed := o.completed[run][1], len(o.failed[run])
		for gen, n := range o.completed[run] {
			if n > 1 {
				r.doubles += n - 1
				t.Errorf("run %d generation %d: %d harvest.completed, want 1", run, gen, n)
			}
		}
		switch {
		case completed > 0 && failed > 0:
			r.doubles += failed
			t.Errorf("run %d: harvest.completed and %d harvest.failed (%s)", run, failed, o.failed[run][0].Reason)
		case failed > 0 && !failedOK:
			t.Errorf("run %d: harvest.failed at %s: %s", run, o.failed[run][0].Stage, o.failed[run][0].Reason)
		case failed > 1:
			r.doubles += failed - 1
			t.Errorf("run %d: %d harvest.failed, want at most 1", run, failed)
		}
		for _, f := range o.failed[run] {
			if strings.TrimSpace(f.Reason) == "" {
				t.Errorf("run %d: harvest.failed without a reason", run)
			}
		}
		if want[run] {
			if completed == 1 {
				r.harvested++
			} else if failed == 1 && completed == 0 {
				r.failed++
			}
		}
	}
	record(r)
	t.Logf("%s: %d webhooks, %d answered 2xx, %d runs harvested, %d failed with a reason, %d doubles, %d lost, %s",
		name, r.webhooks, r.ok2xx, r.harvested, r.failed, r.doubles, r.lost, took.Round(100*time.Millisecond))
	return r
}

func head(runs []int64) []int64 {
	if len(runs) > 10 {
		return runs[:10]
	}
	return runs
}

// scanSecrets fails the test if the API token or the webhook secret appears
// in any line any process logged or in any event of the three streams.
func (h *harness) scanSecrets() {
	t := h.t
	t.Helper()
	secrets := []string{h.token, h.secret}
	lines, sawEventID := 0, false
	err := h.logLines(func(file, line string) {
		lines++
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("%s logs a secret: %.200s", file, line)
			}
		}
		if strings.Contains(line, "event_id") {
			sawEventID = true
		}
	})
	if err != nil {
		t.Errorf("reading logs: %v", err)
	}
	if lines == 0 || !sawEventID {
		t.Errorf("secret scan read %d log lines (receivers' event_id lines seen: %v): it scanned nothing useful", lines, sawEventID)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	n := 0
	for _, stream := range []string{events.StreamRuns, events.StreamArtifacts, events.StreamMetadata} {
		msgs, err := h.collect(ctx, stream, "")
		if err != nil {
			t.Errorf("secret scan of %s: %v", stream, err)
		}
		for _, data := range msgs {
			n++
			for _, s := range secrets {
				if bytes.Contains(data, []byte(s)) {
					t.Errorf("an event on %s holds a secret: %.200s", stream, data)
				}
			}
		}
	}
	if n == 0 {
		t.Error("secret scan read no events")
	}
	t.Logf("secret scan: %d log lines, %d events, no token or webhook secret", lines, n)
}

// diagnose logs, for runs without a harvest event, whether their artifacts
// event is on DBT_ARTIFACTS, and the durable consumers' state.
func (h *harness) diagnose(lost []int64) {
	ctx, cancel := context.WithTimeout(h.t.Context(), 30*time.Second)
	defer cancel()
	msgs, err := h.collect(ctx, events.StreamArtifacts, "")
	if err != nil {
		h.t.Logf("diagnose: %v", err)
		return
	}
	for _, run := range head(lost) {
		n := 0
		for _, data := range msgs {
			if bytes.Contains(data, []byte(fmt.Sprintf(`"dbtrun":"%d"`, run))) {
				n++
			}
		}
		h.t.Logf("diagnose: run %d has %d artifacts events on %s", run, n, events.StreamArtifacts)
		// Every log line about the run, with its file: CI shows only the
		// last lines of each log otherwise.
		mark := fmt.Sprintf("run=%d ", run)
		_ = h.logLines(func(file, line string) {
			if strings.Contains(line+" ", mark) {
				h.t.Logf("diagnose: %s: %s", file, line)
			}
		})
	}
	// The services' warnings and errors, the last 200 (their messages name
	// the stream sequence, not the run).
	var warns []string
	_ = h.logLines(func(file, line string) {
		if !strings.HasPrefix(file, "nats-") && (strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR")) {
			warns = append(warns, file+": "+line)
		}
	})
	for _, w := range warns[max(0, len(warns)-200):] {
		h.t.Logf("diagnose: %s", w)
	}
	for _, c := range []struct{ stream, name string }{{events.StreamRuns, "fetcher"}, {events.StreamArtifacts, "normalizer"}} {
		cons, err := h.js.Consumer(ctx, c.stream, c.name)
		if err != nil {
			h.t.Logf("diagnose: consumer %s: %v", c.name, err)
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			h.t.Logf("diagnose: consumer %s: %v", c.name, err)
			continue
		}
		h.t.Logf("diagnose: consumer %s: pending %d, ack pending %d, redelivered %d, waiting pulls %d, delivered %d, acked floor %d",
			c.name, info.NumPending, info.NumAckPending, info.NumRedelivered, info.NumWaiting, info.Delivered.Stream, info.AckFloor.Stream)
	}
}
