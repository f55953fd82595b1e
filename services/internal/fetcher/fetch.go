// Package fetcher is the fetcher stage (binary and durable consumer
// "fetcher"): for every completed run on DBT_RUNS it reads the run from the
// dbt Cloud Admin API, streams the run's artifacts into the object store
// DBT_ARTIFACTS, and publishes one artifacts-fetched event on DBT_ARTIFACTS
// listing what was stored and what is absent, and why.
//
// # What is fetched
//
// [Plan] reads the run's steps: manifest.json (and semantic_manifest.json)
// from the last step that ran a dbt command, run_results.json from every
// command step (the normalizer merges them in step order), catalog.json from
// the docs-generate step when the run generated docs, sources.json from the
// source-freshness step when it ran one. Each run_results.json is checked by
// its args.which and metadata.invocation_id; when dbt Cloud ignored the step
// parameter (every step's file is the same invocation, or the command does
// not match), the artifacts event carries a warning and the harvest uses
// what dbt Cloud served.
//
// # What is retried
//
// Handle classifies every failure once (see package retry): a run that is not
// complete yet, or whose artifacts are not there yet, is retried after
// NotReadyDelay; a 429 after its Retry-After or dbt's cooldown (the client's
// limiter slows every request of the account meanwhile); 5xx and timeouts
// with backoff. A download that is cut short or is not one complete JSON
// value ([ErrCorrupt]) is downloaded again at once, within the delivery;
// the third such download of the same file is permanent. 401/403, an
// unknown run and a complete run without a manifest are permanent; a
// cancelled run is skipped. GiveUp then
// publishes a dbt.harvester.harvest.failed event that says what to fix.
//
// # Accounts and filters
//
// Runs of accounts without a client, and runs the account's include/exclude
// filters leave out, are acked and counted per reason ([Fetcher.Skipped]),
// not harvested; the run event stays in DBT_RUNS.
//
// # Idempotency
//
// Object keys (<account>/<run>/<step>/<file>) and the artifacts event's ID are
// derived from the run and the harvest generation, so a redelivered message
// overwrites the same objects and republishes the same event ID, which the
// stream's duplicate window absorbs: a run is harvested once. An object is
// visible only once complete, so a fetcher killed mid-download leaves no
// half object behind a key.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/metrics"
	"github.com/dbt-harvester/harvester/services/internal/publish"
	"github.com/dbt-harvester/harvester/services/internal/retry"
	"github.com/dbt-harvester/harvester/services/internal/tracing"
)

// ErrCancelled is the reason a cancelled run is skipped: it closes the run's
// harvest with a harvest-failed event at stage "skip".
var ErrCancelled = errors.New("the run was cancelled: nothing to harvest")

// ReasonAccountNotConfigured counts run events of accounts without a token.
const ReasonAccountNotConfigured = "account_not_configured"

// Fetcher fetches runs' artifacts. Clients holds one Admin API client per
// configured account; Accounts holds their filters.
type Fetcher struct {
	JS      jetstream.JetStream
	Store   jetstream.ObjectStore
	Ledger  *ledger.Ledger // DBT_HARVESTS
	Clients map[int64]*dbtcloud.Client
	// Accounts are the configured accounts by ID, for their include and
	// exclude filters; an account with a client and no entry is harvested whole.
	Accounts map[int64]config.Account
	Log      *slog.Logger
	Now      func() time.Time
	// NotReadyDelay is how long to wait before asking again about a run that
	// is not complete yet, or whose artifacts are not there yet (default 15s).
	NotReadyDelay time.Duration
	// CorruptRetryDelay is how long to wait before downloading again an
	// artifact whose download failed the check (ErrCorrupt); it doubles for
	// the next (default 1s).
	CorruptRetryDelay time.Duration
	// ArtifactsGrace is how long after a run finished a 404 still means "not
	// there yet" for its manifest.json, and for any artifact while the run
	// says artifacts_saved false (default 2m); after it, absent.
	ArtifactsGrace time.Duration
	// Tracing starts a W3C trace for a run that comes without one (from the
	// reconciler, a backfill or a replay); a run event's trace is always
	// passed on.
	Tracing bool
	// Metrics counts the artifact bytes stored; nil: none. (The API
	// clients count their requests: see NewClients.)
	Metrics *metrics.Metrics
	// Tracer exports a "fetch" span per run with a "download" span per
	// artifact; nil: none.
	Tracer *tracing.Tracer

	mu      sync.Mutex
	skipped map[string]int64
	logged  map[int64]bool // runs whose skip was logged (bounded)
}

// New returns a Fetcher with one client per account; m (nil: none) counts
// the artifact bytes and the clients' requests.
func New(js jetstream.JetStream, store jetstream.ObjectStore, l *ledger.Ledger, accounts []config.Account, m *metrics.Metrics, log *slog.Logger) (*Fetcher, error) {
	clients, err := NewClients(accounts, m)
	if err != nil {
		return nil, err
	}
	f := &Fetcher{JS: js, Store: store, Ledger: l, Clients: clients, Accounts: map[int64]config.Account{}, Log: log, Metrics: m}
	for _, a := range accounts {
		f.Accounts[a.ID] = a
	}
	return f, nil
}

// NewClients makes one Admin API client per account, counting their
// requests in m (nil: not counted). Each client holds the account's rate
// limiter, so make them once per process.
func NewClients(accounts []config.Account, m *metrics.Metrics) (map[int64]*dbtcloud.Client, error) {
	clients := map[int64]*dbtcloud.Client{}
	for _, a := range accounts {
		c, err := dbtcloud.New(dbtcloud.Options{AccessURL: a.AccessURL, AccountID: a.ID, Token: a.Token.Reveal(), Metrics: m,
			Cooldown: a.Cooldown})
		if err != nil {
			return nil, fmt.Errorf("account %d: %w", a.ID, err)
		}
		clients[a.ID] = c
	}
	return clients, nil
}

// Skipped is how many run events were not harvested, per reason:
// ReasonAccountNotConfigured or one of config's Reason* filter reasons.
func (f *Fetcher) Skipped() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int64, len(f.skipped))
	for k, v := range f.skipped {
		out[k] = v
	}
	return out
}

// Unconfigured counts run events skipped because their account has no client.
func (f *Fetcher) Unconfigured() int64 { return f.Skipped()[ReasonAccountNotConfigured] }

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
	// Names from the webhook payload (jobName, projectName, environmentName),
	// for name filters and the run facts; empty when not from a webhook.
	JobName, ProjectName, EnvironmentName string
	// Trace is the run event's trace context, passed on to the artifacts event.
	Trace events.Trace
	// ReceivedAt is when DBT_RUNS stored the run event (zero: not from one).
	ReceivedAt time.Time
}

// Handle is the consume.Handler for run events: it harvests the run unless
// its account is not configured or its filters leave it out (then it acks).
func (f *Fetcher) Handle(ctx context.Context, msg jetstream.Msg) error {
	req, err := RequestOf(msg.Data())
	if err != nil {
		return retry.Permanent(err)
	}
	req.ReceivedAt = storedAt(msg)
	if reason := f.Skip(req); reason != "" {
		f.countSkip(req, reason)
		return nil
	}
	// A run whose harvest of this generation has ended (a second completed
	// webhook for it, from a second subscription): its event is stored, but
	// fetching again would change nothing (the artifacts event's ID is the
	// same) and would replace the run's objects under a normalizer.
	if f.Ledger != nil {
		rec, ok, err := f.Ledger.Lookup(ctx, req.Ref.AccountID, req.Ref.RunID)
		if err != nil {
			return err
		}
		if ok && rec.Generation >= req.Generation {
			f.log().Info("run already harvested; this event is stored, not harvested again", "account", req.Ref.AccountID,
				"run", req.Ref.RunID, "generation", rec.Generation, "status", rec.Status, "event_id", req.WebhookEventID)
			return nil
		}
	}
	_, err = f.fetch(ctx, req, true)
	var skip *skipError
	if errors.As(err, &skip) {
		f.countSkip(req, skip.reason)
		return nil
	}
	return err
}

// Skip reports why req is not to be harvested ("" to harvest it): its
// account has no client, or the account's filters leave it out, judged by
// the IDs and the names the request carries.
func (f *Fetcher) Skip(req Request) string {
	if _, ok := f.Clients[req.Ref.AccountID]; !ok {
		return ReasonAccountNotConfigured
	}
	a, ok := f.Accounts[req.Ref.AccountID]
	if !ok {
		return ""
	}
	return a.Skip(config.Subject{
		ProjectID: req.Ref.ProjectID, EnvironmentID: req.Ref.EnvironmentID, JobID: req.Ref.JobID,
		ProjectName: req.ProjectName, EnvironmentName: req.EnvironmentName, JobName: req.JobName,
	})
}

// Filtered reports whether the account has include or exclude filters, so
// that a run listed without names must have them looked up before Skip.
func (f *Fetcher) Filtered(account int64) bool {
	a, ok := f.Accounts[account]
	return ok && a.Filtered()
}

type skipError struct{ reason string }

func (e *skipError) Error() string { return "not harvested: " + e.reason }

// countSkip counts a skipped run event and logs it once per run.
func (f *Fetcher) countSkip(req Request, reason string) {
	f.mu.Lock()
	if f.skipped == nil {
		f.skipped, f.logged = map[string]int64{}, map[int64]bool{}
	}
	f.skipped[reason]++
	n := f.skipped[reason]
	first := !f.logged[req.Ref.RunID]
	if first {
		if len(f.logged) >= 4096 {
			clear(f.logged)
		}
		f.logged[req.Ref.RunID] = true
	}
	f.mu.Unlock()
	if first {
		f.log().Info("run event stored, not harvested", "reason", reason, "account", req.Ref.AccountID,
			"project", req.Ref.ProjectID, "environment", req.Ref.EnvironmentID, "job", req.Ref.JobID,
			"job_name", req.JobName, "run", req.Ref.RunID, "skipped_total", n)
	}
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
	return Request{Ref: w.Ref(), Generation: events.GenerationOf(ev), WebhookEventID: w.EventID, Trace: events.TraceOf(ev),
		JobName: w.Data.JobName, ProjectName: w.Data.ProjectName, EnvironmentName: w.Data.EnvironmentName}, nil
}

// Fetch harvests one run's artifacts into the object store and publishes the
// artifacts-fetched event. It applies no filter: the caller asked for the run.
func (f *Fetcher) Fetch(ctx context.Context, req Request) (events.ArtifactsFetched, error) {
	return f.fetch(ctx, req, false)
}

func (f *Fetcher) fetch(ctx context.Context, req Request, filtered bool) (_ events.ArtifactsFetched, err error) {
	client, run, err := f.readRun(ctx, req)
	if err != nil {
		return events.ArtifactsFetched{}, err
	}
	if filtered && req.JobName == "" && run.Job != nil && run.Job.Name != "" {
		req.JobName = run.Job.Name // a run event without names: judge by the run's job name
		if reason := f.Skip(req); reason != "" {
			return events.ArtifactsFetched{}, &skipError{reason}
		}
	}
	if err := f.harvestable(run); err != nil {
		return events.ArtifactsFetched{}, err
	}
	trace := req.Trace.Continue(f.Tracing) // starts one for a run from the reconciler or a backfill
	ctx, span := f.Tracer.Start(ctx, "fetch", req.Trace, trace,
		attribute.Int64("dbt.account_id", req.Ref.AccountID), attribute.Int64("dbt.run_id", req.Ref.RunID))
	defer func() { tracing.End(span, err) }()
	out, err := f.collect(ctx, client, ObjectSink{JS: f.JS, Store: f.Store}, run, req)
	if err != nil {
		return out, err
	}
	m, err := events.NewArtifactsFetched(out, trace)
	if err != nil {
		return out, retry.Permanent(err)
	}
	if _, err := publish.Event(ctx, f.JS, m); err != nil {
		return out, err
	}
	f.log().Info("artifacts fetched", "account", out.Run.AccountID, "run", out.Run.RunID,
		"stored", len(out.Artifacts), "absent", len(out.Absent), "warnings", len(out.Warnings))
	return out, nil
}

// Download fetches one run's artifacts into sink and returns what the
// artifacts event would say, without publishing it (harvester harvest
// --stdout). It applies no filter.
func (f *Fetcher) Download(ctx context.Context, req Request, sink Sink) (events.ArtifactsFetched, error) {
	client, run, err := f.readRun(ctx, req)
	if err != nil {
		return events.ArtifactsFetched{}, err
	}
	if err := f.harvestable(run); err != nil {
		return events.ArtifactsFetched{}, err
	}
	return f.collect(ctx, client, sink, run, req)
}

// readRun reads the run with its steps and job.
func (f *Fetcher) readRun(ctx context.Context, req Request) (*dbtcloud.Client, dbtcloud.Run, error) {
	client, ok := f.Clients[req.Ref.AccountID]
	if !ok {
		return nil, dbtcloud.Run{}, retry.Permanent(fmt.Errorf("no dbt Cloud token configured for account %d", req.Ref.AccountID))
	}
	run, err := client.GetRun(ctx, req.Ref.RunID)
	if err != nil {
		if errors.Is(err, dbtcloud.ErrNotFound) {
			err = retry.Permanent(err) // the run does not exist (e.g. dbt Cloud's sample "Test Endpoint" delivery)
		}
		return nil, dbtcloud.Run{}, fmt.Errorf("read run %d: %w", req.Ref.RunID, err)
	}
	return client, run, nil
}

// harvestable says whether the run can be harvested now: a cancelled run is
// skipped (permanent), one still running is asked about again later.
func (f *Fetcher) harvestable(run dbtcloud.Run) error {
	switch {
	case run.IsCancelled || run.Status == dbtcloud.StatusCancelled:
		return retry.Permanent(fmt.Errorf("run %d: %w", run.ID, ErrCancelled))
	case !run.IsComplete:
		return retry.After(f.notReadyDelay(), fmt.Errorf("run %d is not complete yet (status %s)", run.ID, run.StatusHumanized))
	}
	return nil
}

func (f *Fetcher) notReadyDelay() time.Duration {
	if f.NotReadyDelay > 0 {
		return f.NotReadyDelay
	}
	return 15 * time.Second
}

func (f *Fetcher) artifactsGrace() time.Duration {
	if f.ArtifactsGrace > 0 {
		return f.ArtifactsGrace
	}
	return 2 * time.Minute
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
	ctx = events.WithTrace(ctx, req.Trace)
	facts := events.RunFacts{RunRef: req.Ref, WebhookEventID: req.WebhookEventID,
		JobName: req.JobName, ProjectName: req.ProjectName, EnvironmentName: req.EnvironmentName,
		ReceivedAt: timePtr(storedAt(msg))}
	failed := events.HarvestFailed{Run: facts,
		Generation: req.Generation, Stage: stage, Reason: cause.Error(), Fix: Fix(cause), FailedAt: f.now().UTC()}
	if err := f.Ledger.Fail(ctx, failed); err != nil {
		f.log().Error("cannot publish harvest.failed", "run", req.Ref.RunID, "err", err)
	}
}

// Fix says what an operator can do about cause, when something can be done.
func Fix(cause error) string {
	var api *dbtcloud.APIError
	switch {
	case errors.As(cause, &api) && api.Hint != "":
		return api.Hint
	case errors.Is(cause, ErrNotYet):
		return "the run's artifacts did not appear in dbt Cloud in time (run complete, artifacts still 404); " +
			"check the run in dbt Cloud, then re-harvest it (harvester harvest --run <id>)"
	case errors.Is(cause, ErrCorrupt):
		return fmt.Sprintf("%d downloads of the artifact in a row were truncated or were not valid JSON (the reason says at which byte): "+
			"check dbt Cloud's status and any proxy between the harvester and dbt Cloud, then re-harvest the run (harvester harvest --run <id>)", CorruptAttempts)
	case errors.Is(cause, dbtcloud.ErrNotFound):
		return "check that the run exists in this account (dbt Cloud's \"Test Endpoint\" sends runs that do not exist)"
	case retry.IsPermanent(cause):
		return ""
	}
	return "the harvest gave up after repeated transient failures; check dbt Cloud's status and the harvester's logs (the run event stays in DBT_RUNS for a re-harvest)"
}

// storedAt is when JetStream stored msg, zero when it cannot say.
func storedAt(msg jetstream.Msg) time.Time {
	meta, err := msg.Metadata()
	if err != nil {
		return time.Time{}
	}
	return meta.Timestamp.UTC()
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
