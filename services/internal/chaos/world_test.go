package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
)

// The simulated account: one project, environment and job whose runs are
// the runs of a scenario.
const (
	accountID = 1
	projectID = 100
	envID     = 200
	jobID     = 300
)

// world is a devcloud configuration of one job with the given runs, all
// complete, serving a small generated project unless a run names its own
// folder.
func world(t *testing.T, runs []devcloud.RunSpec) devcloud.Config {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(6)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range runs {
		if runs[i].Status == 0 {
			runs[i].Status = 10
		}
		if runs[i].FinishedAt.IsZero() {
			runs[i].FinishedAt = now.Add(-time.Duration(len(runs)-i) * time.Second)
		}
	}
	return devcloud.Config{Accounts: []devcloud.AccountSpec{{
		ID: accountID, Name: "chaos",
		Projects: []devcloud.ProjectSpec{{ID: projectID, Name: "analytics", Environments: []devcloud.EnvironmentSpec{{
			ID: envID, Name: "Production", DeploymentType: "production",
			Jobs: []devcloud.JobSpec{{ID: jobID, Name: "Nightly production build", ExecuteSteps: []string{"dbt build"},
				GenerateDocs: true, RunGenerateSources: true, ArtifactsDir: dir, Runs: runs}},
		}}}},
	}}}
}

// runSpecs are n plain runs with IDs first, first+1, ...
func runSpecs(first int64, n int) []devcloud.RunSpec {
	runs := make([]devcloud.RunSpec, n)
	for i := range runs {
		runs[i].ID = first + int64(i)
	}
	return runs
}

// webhook is one event dbt Cloud sends, and what became of it.
type webhook struct {
	run     int64
	started bool // job.run.started: stored, never harvested
	eventID string
	body    []byte
	codes   []int       // every attempt's answer; 0 for none
	ended   []time.Time // when each attempt's answer (or failure) came
	ok      bool        // some attempt got a 2xx
}

// completedWebhook renders dbt Cloud's job.run.completed payload for run
// under a new eventId (a retry of it reuses body and eventId).
func completedWebhook(run int64) *webhook { return runWebhook(run, "job.run.completed", "wsu_chaos") }

// redelivery is dbt Cloud sending w again: same eventId, same bytes.
func (w *webhook) redelivery() *webhook {
	return &webhook{run: w.run, eventID: w.eventID, body: w.body, started: w.started}
}

// runWebhook renders a run webhook of eventType from subscription sub.
func runWebhook(run int64, eventType, sub string) *webhook {
	id := "wev_" + randHex(13)
	status, code := "Success", 10
	if eventType == "job.run.started" {
		status, code = "Running", 3
	}
	body, err := json.Marshal(map[string]any{
		"accountId": accountID, "webhookId": sub, "eventId": id,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "eventType": eventType,
		"webhookName": "harvester", "data": map[string]any{
			"jobId": strconv.Itoa(jobID), "jobName": "Nightly production build", "runId": strconv.FormatInt(run, 10),
			"environmentId": strconv.Itoa(envID), "environmentName": "Production", "dbtVersion": "1.10.6",
			"projectName": "analytics", "projectId": strconv.Itoa(projectID), "runStatus": status,
			"runStatusCode": code, "runStatusMessage": "None", "runReason": "Kicked off by the scheduler",
			"runStartedAt":  time.Now().UTC().Add(-time.Minute).Format(time.RFC3339),
			"runFinishedAt": time.Now().UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		panic(err)
	}
	return &webhook{run: run, eventID: id, body: body, started: eventType == "job.run.started"}
}

// dbtBackoff is the pause before dbt Cloud's first retry, doubling after
// (the simulator's default; dbt's schedule is not documented).
const dbtBackoff = time.Second

// send delivers w as dbt Cloud does: 10 s per attempt, up to 5 retries with
// the same eventId and bytes. Attempts go to the receivers in turn, from
// receiver `first`, as a load balancer in front of them would.
func (h *harness) send(ctx context.Context, w *webhook, first int) {
	backoff := dbtBackoff
	for attempt := 0; attempt <= 5; attempt++ {
		target := h.hooks[(first+attempt)%len(h.hooks)]
		code := h.post(ctx, target, w.body)
		w.codes, w.ended = append(w.codes, code), append(w.ended, time.Now())
		if code >= 200 && code <= 299 {
			w.ok = true
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func (h *harness) post(ctx context.Context, target string, body []byte) int {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", devcloud.Sign(h.secret, body))
	resp, err := h.client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// load sends the webhooks at a steady rate over spread, each in its own
// goroutine (with its retries); wait returns when every delivery ended.
type load struct {
	hooks []*webhook
	wg    sync.WaitGroup
}

func (h *harness) sendAll(ctx context.Context, hooks []*webhook, spread time.Duration) *load {
	l := &load{hooks: hooks}
	gap := spread / time.Duration(max(len(hooks), 1))
	l.wg.Go(func() {
		for i, w := range hooks {
			l.wg.Go(func() { h.send(ctx, w, i) })
			select {
			case <-ctx.Done():
				return
			case <-time.After(gap):
			}
		}
	})
	return l
}

func (l *load) wait() { l.wg.Wait() }

// accepted are the runs with at least one webhook answered 2xx.
func (l *load) accepted() map[int64]bool {
	runs := map[int64]bool{}
	for _, w := range l.hooks {
		if w.ok && !w.started {
			runs[w.run] = true
		}
	}
	return runs
}

func (l *load) count2xx() int {
	n := 0
	for _, w := range l.hooks {
		if w.ok {
			n++
		}
	}
	return n
}

// outcome is what the streams hold: harvest events per run and generation,
// and the event IDs stored on DBT_RUNS.
type outcome struct {
	completed map[int64]map[int]int
	failed    map[int64][]events.HarvestFailed
	runEvents map[string]int
}

// readOutcome reads DBT_METADATA's harvest events and DBT_RUNS's event IDs.
func (h *harness) readOutcome(ctx context.Context) (outcome, error) {
	o := outcome{completed: map[int64]map[int]int{}, failed: map[int64][]events.HarvestFailed{}, runEvents: map[string]int{}}
	harvests, err := h.collect(ctx, events.StreamMetadata, "dbt.metadata.*.*.*.harvest")
	if err != nil {
		return o, err
	}
	for _, data := range harvests {
		ev, err := events.Decode(data)
		if err != nil {
			return o, err
		}
		switch ev.Type() {
		case events.TypeHarvestCompleted:
			d, err := events.DataAs[events.HarvestCompleted](ev)
			if err != nil {
				return o, err
			}
			if o.completed[d.Run.RunID] == nil {
				o.completed[d.Run.RunID] = map[int]int{}
			}
			o.completed[d.Run.RunID][d.Generation]++
		case events.TypeHarvestFailed:
			d, err := events.DataAs[events.HarvestFailed](ev)
			if err != nil {
				return o, err
			}
			o.failed[d.Run.RunID] = append(o.failed[d.Run.RunID], d)
		}
	}
	runs, err := h.collect(ctx, events.StreamRuns, "")
	if err != nil {
		return o, err
	}
	for _, data := range runs {
		ev, err := events.Decode(data)
		if err != nil {
			return o, err
		}
		o.runEvents[ev.ID()]++
	}
	return o, nil
}

// readStream calls fn with the data of every message on stream (filtered
// by subject unless filter is empty), from the first to the last.
func (h *harness) readStream(ctx context.Context, stream, filter string, fn func([]byte) error) error {
	cfg := jetstream.OrderedConsumerConfig{}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	cons, err := h.js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("ordered consumer on %s: %w", stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer info on %s: %w", stream, err)
	}
	left := info.NumPending
	for left > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		batch, err := cons.Fetch(int(min(left, 500)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("fetch from %s: %w", stream, err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			left--
			if err := fn(msg.Data()); err != nil {
				return fmt.Errorf("%s seq %d: %w", stream, mustSeq(msg), err)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("fetch from %s: %w", stream, err)
		}
		if n == 0 {
			return fmt.Errorf("fetch from %s: nothing within 2s with %d left", stream, left)
		}
	}
	return nil
}

// collect reads every message of stream, trying again (from the start) for
// a while when the cluster is still settling.
func (h *harness) collect(ctx context.Context, stream, filter string) ([][]byte, error) {
	var err error
	for range 10 {
		var msgs [][]byte
		err = h.readStream(ctx, stream, filter, func(data []byte) error {
			msgs = append(msgs, data)
			return nil
		})
		if err == nil {
			return msgs, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Second):
		}
	}
	return nil, err
}

func mustSeq(msg jetstream.Msg) uint64 {
	meta, err := msg.Metadata()
	if err != nil {
		return 0
	}
	return meta.Sequence.Stream
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
