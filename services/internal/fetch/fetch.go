// Package fetch is the fetcher: for every completed run on DBT_RUNS it reads
// the run from the dbt Cloud Admin API, streams the run's artifacts into the
// object store DBT_ARTIFACTS, and publishes one artifacts-fetched event on
// DBT_ARTIFACTS listing what was stored and what is absent, and why.
//
// # What is retried
//
// Handle classifies every failure once (see package retry): a run that is not
// complete yet, a 429 (after its Retry-After or dbt's cooldown), 5xx, timeouts
// and short downloads are retried with delay; 401/403, an unknown run, a run
// without a manifest, and a cancelled run are permanent, and GiveUp publishes
// a dbt.harvester.harvest.failed event that says what to fix. Runs of accounts
// the fetcher has no client for are acked and counted, not harvested.
//
// # Idempotency
//
// Object keys (<account>/<run>/<step>/<file>) and the artifacts event's ID are
// derived from the run and the harvest generation, so a redelivered message
// overwrites the same objects and republishes the same event ID, which the
// stream's duplicate window absorbs: a run is harvested once.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/harvest"
	"github.com/dbt-harvester/harvester/services/internal/publish"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// ExtGeneration is the CloudEvent extension a run event carries when it asks
// for a re-harvest (replay); absent means generation 1.
const ExtGeneration = "harvestgeneration"

// ErrCancelled is the reason a cancelled run is skipped: it closes the run's
// harvest with a harvest-failed event at stage "skip".
var ErrCancelled = errors.New("the run was cancelled: nothing to harvest")

// Fetcher fetches runs' artifacts. Clients holds one Admin API client per
// configured account.
type Fetcher struct {
	JS      jetstream.JetStream
	Store   jetstream.ObjectStore
	Records jetstream.KeyValue // DBT_HARVESTS
	Clients map[int64]*dbtcloud.Client
	Log     *slog.Logger
	Now     func() time.Time
	// NotReadyDelay is how long to wait before asking again about a run that
	// is not complete yet (default 15s).
	NotReadyDelay time.Duration

	unconfigured atomic.Int64
}

// Unconfigured counts run events skipped because their account has no client.
func (f *Fetcher) Unconfigured() int64 { return f.unconfigured.Load() }

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fetcher) log() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Request is one run to harvest.
type Request struct {
	Ref            events.RunRef
	Generation     int
	WebhookEventID string
}

// Handle is the consume.Handler for run events.
func (f *Fetcher) Handle(ctx context.Context, msg jetstream.Msg) error {
	req, err := RequestOf(msg.Data())
	if err != nil {
		return retry.Permanent(err)
	}
	if _, ok := f.Clients[req.Ref.AccountID]; !ok {
		n := f.unconfigured.Add(1)
		f.log().Warn("run event for an account without a configured token; stored, not harvested",
			"account", req.Ref.AccountID, "run", req.Ref.RunID, "skipped_total", n)
		return nil
	}
	_, err = f.Fetch(ctx, req)
	return err
}

// RequestOf reads the harvest request from a run CloudEvent.
func RequestOf(data []byte) (Request, error) {
	ev, err := events.Decode(data)
	if err != nil {
		return Request{}, fmt.Errorf("read run event: %w", err)
	}
	w, err := events.ParseRunWebhook(ev.Data())
	if err != nil {
		return Request{}, fmt.Errorf("read run event %s: %w", ev.ID(), err)
	}
	return Request{Ref: w.Ref(), Generation: generation(ev), WebhookEventID: w.EventID}, nil
}

func generation(ev event.Event) int {
	if v, ok := ev.Extensions()[ExtGeneration]; ok {
		if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil && n > 0 {
			return n
		}
	}
	return 1
}

// Fetch harvests one run's artifacts and publishes the artifacts-fetched event.
func (f *Fetcher) Fetch(ctx context.Context, req Request) (events.ArtifactsFetched, error) {
	client, ok := f.Clients[req.Ref.AccountID]
	if !ok {
		return events.ArtifactsFetched{}, retry.Permanent(fmt.Errorf("no dbt Cloud token configured for account %d", req.Ref.AccountID))
	}
	run, err := client.GetRun(ctx, req.Ref.RunID)
	if err != nil {
		if errors.Is(err, dbtcloud.ErrNotFound) {
			err = retry.Permanent(err) // the run does not exist (e.g. dbt Cloud's sample "Test Endpoint" delivery)
		}
		return events.ArtifactsFetched{}, fmt.Errorf("read run %d: %w", req.Ref.RunID, err)
	}
	switch {
	case run.IsCancelled || run.Status == dbtcloud.StatusCancelled:
		return events.ArtifactsFetched{}, retry.Permanent(fmt.Errorf("run %d: %w", run.ID, ErrCancelled))
	case !run.IsComplete:
		return events.ArtifactsFetched{}, retry.After(f.notReadyDelay(), fmt.Errorf("run %d is not complete yet (status %s)", run.ID, run.StatusHumanized))
	}
	out := events.ArtifactsFetched{
		Run: Facts(run, req.WebhookEventID), Generation: req.Generation,
		Artifacts: []events.StoredArtifact{}, Absent: []events.AbsentArtifact{}, Warnings: []string{},
	}
	for _, want := range Plan(run) {
		if want.AbsentReason != "" {
			out.Absent = append(out.Absent, events.AbsentArtifact{Name: want.Name, Step: want.Step, Reason: want.AbsentReason})
			continue
		}
		stored, err := f.store(ctx, client, run, want)
		switch {
		case errors.Is(err, dbtcloud.ErrNotFound) && want.Name == events.ManifestJSON:
			return out, retry.Permanent(fmt.Errorf("run %d has no manifest.json (step %d): dbt did not parse the project, so there is nothing to harvest: %w", run.ID, want.Step, err))
		case errors.Is(err, dbtcloud.ErrNotFound):
			out.Absent = append(out.Absent, events.AbsentArtifact{Name: want.Name, Step: want.Step,
				Reason: fmt.Sprintf("%s not found in step %d (%s) of run %d", want.Name, want.Step, want.StepName, run.ID)})
		case err != nil:
			return out, err
		default:
			out.Artifacts = append(out.Artifacts, stored)
		}
	}
	out.FetchedAt = f.now().UTC()
	ev, err := events.New(events.TypeArtifactsFetched, events.ArtifactsID(out.Run.RunRef, out.Generation),
		out.Run.RunRef, "", out.FetchedAt, out)
	if err != nil {
		return out, retry.Permanent(err)
	}
	if _, err := publish.Event(ctx, f.JS, events.ArtifactsSubject(out.Run.RunRef), ev); err != nil {
		return out, err
	}
	f.log().Info("artifacts fetched", "account", out.Run.AccountID, "run", out.Run.RunID,
		"stored", len(out.Artifacts), "absent", len(out.Absent))
	return out, nil
}

func (f *Fetcher) notReadyDelay() time.Duration {
	if f.NotReadyDelay > 0 {
		return f.NotReadyDelay
	}
	return 15 * time.Second
}

// Facts is the run as events carry it.
func Facts(run dbtcloud.Run, webhookEventID string) events.RunFacts {
	facts := events.RunFacts{
		RunRef: events.RunRef{AccountID: run.AccountID, ProjectID: run.ProjectID,
			EnvironmentID: run.EnvironmentID, JobID: run.JobDefinitionID, RunID: run.ID},
		Status: run.StatusHumanized, StatusCode: run.Status, StatusMessage: run.StatusMessage,
		DBTVersion: run.DBTVersion, GitBranch: run.GitBranch, GitSHA: run.GitSHA,
		HasDocsGenerated: run.HasDocsGenerated, HasSourcesGenerated: run.HasSourcesGenerated,
		Href: run.Href, WebhookEventID: webhookEventID,
	}
	if run.Trigger != nil {
		facts.TriggerCause = run.Trigger.Cause
	}
	if run.Job != nil {
		facts.JobName = run.Job.Name
	}
	if !run.StartedAt.IsZero() {
		t := run.StartedAt.UTC()
		facts.StartedAt = &t
	}
	if !run.FinishedAt.IsZero() {
		t := run.FinishedAt.UTC()
		facts.FinishedAt = &t
	}
	return facts
}

// store streams one artifact into the object store, hashing and counting it
// on the way; it never holds the artifact in memory.
func (f *Fetcher) store(ctx context.Context, client *dbtcloud.Client, run dbtcloud.Run, want Want) (events.StoredArtifact, error) {
	body, length, err := client.Artifact(ctx, run.ID, want.Name, want.Step)
	if err != nil {
		return events.StoredArtifact{}, err
	}
	defer body.Close()
	hash := sha256.New()
	count := &counter{}
	sniff := &versionSniffer{}
	key := events.ObjectKey(run.AccountID, run.ID, want.Step, want.Name)
	meta := jetstream.ObjectMeta{Name: key, Description: fmt.Sprintf("%s of run %d step %d", want.Name, run.ID, want.Step)}
	if _, err := f.Store.Put(ctx, meta, io.TeeReader(body, io.MultiWriter(hash, count, sniff))); err != nil {
		return events.StoredArtifact{}, fmt.Errorf("store %s of run %d: %w", want.Name, run.ID, err)
	}
	if length >= 0 && count.n != length {
		return events.StoredArtifact{}, fmt.Errorf("store %s of run %d: got %d of %d bytes", want.Name, run.ID, count.n, length)
	}
	return events.StoredArtifact{
		Name: want.Name, Step: want.Step, StepName: want.StepName, Bucket: events.BucketArtifacts, Key: key,
		Size: count.n, SHA256: hex.EncodeToString(hash.Sum(nil)), SchemaVersion: sniff.version(),
	}, nil
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// versionSniffer keeps the head of an artifact, where dbt writes metadata.
type versionSniffer struct{ head []byte }

const sniffBytes = 64 << 10

func (s *versionSniffer) Write(p []byte) (int, error) {
	if room := sniffBytes - len(s.head); room > 0 {
		s.head = append(s.head, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

var schemaVersionRE = regexp.MustCompile(`"dbt_schema_version"\s*:\s*"([^"]{1,200})"`)

func (s *versionSniffer) version() string {
	m := schemaVersionRE.FindSubmatch(s.head)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// Want is one artifact to fetch from one step, or to record as absent.
type Want struct {
	Name         string
	Step         int // 0: the run's default (its last step)
	StepName     string
	AbsentReason string // set when the run's settings say the file cannot exist
}

// Plan chooses the step of each artifact: manifest.json and run_results.json
// from the last step that ran a dbt command (not deps, freshness or docs),
// catalog.json from the docs-generate step when the run generated docs, and
// sources.json from the source-freshness step when it ran one.
func Plan(run dbtcloud.Run) []Want {
	var build, docs, fresh dbtcloud.Step
	for _, s := range run.Steps {
		name := strings.ToLower(s.Name)
		switch {
		case strings.Contains(name, "docs generate"):
			docs = s
		case strings.Contains(name, "source freshness"):
			fresh = s
		case isCommandStep(name):
			build = s
		}
	}
	jobID := run.JobDefinitionID
	wants := []Want{
		{Name: events.ManifestJSON, Step: build.Index, StepName: build.Name},
		{Name: events.RunResultsJSON, Step: build.Index, StepName: build.Name},
	}
	catalog := Want{Name: events.CatalogJSON, Step: docs.Index, StepName: docs.Name}
	if !run.HasDocsGenerated {
		catalog.AbsentReason = fmt.Sprintf("no catalog.json: \"Generate docs on run\" is off for job %d, so column types come from the YAML only; turn it on in the job's settings", jobID)
	}
	sources := Want{Name: events.SourcesJSON, Step: fresh.Index, StepName: fresh.Name}
	if !run.HasSourcesGenerated {
		sources.AbsentReason = fmt.Sprintf("no sources.json: \"Run source freshness\" is off for job %d, so sources carry no freshness; turn it on in the job's settings", jobID)
	}
	return append(wants, catalog, sources)
}

var dbtCommands = []string{"dbt build", "dbt run", "dbt test", "dbt seed", "dbt snapshot", "dbt compile", "dbt retry", "dbt clone"}

func isCommandStep(lower string) bool {
	for _, c := range dbtCommands {
		if strings.Contains(lower, c) {
			return true
		}
	}
	return false
}

// GiveUp is the consume.Options.OnGiveUp hook: it closes the run's harvest
// with a harvest-failed event that says what went wrong and what to fix.
func (f *Fetcher) GiveUp(ctx context.Context, msg jetstream.Msg, cause error) {
	req, err := RequestOf(msg.Data())
	if err != nil {
		f.log().Error("cannot report failed harvest: unreadable run event", "err", err)
		return
	}
	stage := "fetch"
	if errors.Is(cause, ErrCancelled) {
		stage = "skip"
	}
	failed := events.HarvestFailed{Run: events.RunFacts{RunRef: req.Ref, WebhookEventID: req.WebhookEventID},
		Generation: req.Generation, Stage: stage, Reason: cause.Error(), Fix: Fix(cause), FailedAt: f.now().UTC()}
	if err := harvest.Failed(ctx, f.JS, f.Records, failed); err != nil {
		f.log().Error("cannot publish harvest.failed", "run", req.Ref.RunID, "err", err)
	}
}

// Fix says what an operator can do about cause, when something can be done.
func Fix(cause error) string {
	var api *dbtcloud.APIError
	switch {
	case errors.As(cause, &api) && api.Hint != "":
		return api.Hint
	case errors.Is(cause, dbtcloud.ErrNotFound):
		return "check that the run exists in this account (dbt Cloud's \"Test Endpoint\" sends runs that do not exist)"
	case retry.IsPermanent(cause):
		return ""
	}
	return "the harvest gave up after repeated transient failures; check dbt Cloud's status and the harvester's logs (the run event stays in DBT_RUNS for a re-harvest)"
}
