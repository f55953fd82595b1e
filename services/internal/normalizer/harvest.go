// Package normalizer is the normalizer stage (binary and durable consumer
// "normalizer"): for every artifacts-fetched event on DBT_ARTIFACTS it
// streams the run's artifacts out of the object store, normalizes them
// (package normalize), and publishes one asset event per asset on
// DBT_METADATA, then the harvest's OpenLineage run events on DBT_OPENLINEAGE
// (package openlineage), then one harvest-completed event on DBT_METADATA: a
// harvest-completed event means both are stored.
//
// # What is acked, retried and owned
//
// Handle returns nil (ack) once the closing harvest event is stored. A
// malformed artifact or a missing object is permanent: GiveUp then publishes
// dbt.harvester.harvest.failed with the reason, and the message is
// terminated. Publish failures are transient and redelivered; since every
// event ID is deterministic (run, generation, asset), a redelivered harvest
// republishes the same IDs and subscribers see each asset once.
//
// # State
//
// The KV bucket DBT_ASSETS holds each asset's latest state under
// <account>.<project>.<environment>.<escaped unique_id>. Before publishing,
// the normalizer reads the environment's previous state and marks every asset
// new, changed (with the top-level fields that changed) or unchanged; assets
// of the environment that are no longer in the project are listed as removed
// on the harvest event and deleted from the bucket. One normalizer at a time
// should harvest a given environment for these marks to be exact.
//
// An asset's result is this run's (omitted when the run did not execute
// it); its last_result is this run's result with the run ID and the run's
// finished_at when it ran, else the previous state's last_result carried
// over, so a job that selects some nodes (dbt build -s tag:x) does not lose
// the others' results. Results are measurements: neither makes an asset
// changed.
package normalizer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/metrics"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
	"github.com/dbt-harvester/harvester/services/internal/openlineage"
	"github.com/dbt-harvester/harvester/services/internal/publish"
	"github.com/dbt-harvester/harvester/services/internal/retry"
	"github.com/dbt-harvester/harvester/services/internal/tracing"
)

// Normalizer publishes harvested metadata.
type Normalizer struct {
	JS          jetstream.JetStream
	Store       jetstream.ObjectStore
	KV          jetstream.KeyValue // DBT_ASSETS
	Ledger      *ledger.Ledger     // DBT_HARVESTS
	Log         *slog.Logger
	Now         func() time.Time
	IncludeCode bool
	Window      int // unacknowledged asynchronous publishes at most; default 256
	// Metrics counts completed harvests, their duration and their assets;
	// nil: none. (Failed harvests are counted by the Ledger.)
	Metrics *metrics.Metrics
	// Tracer exports a "normalize" span per harvest; nil: none.
	Tracer *tracing.Tracer
	// OpenLineage names the jobs and datasets of the OpenLineage run events
	// published on DBT_OPENLINEAGE after the asset events.
	OpenLineage openlineage.Options
	// NoOpenLineage turns those events off (HARVESTER_OPENLINEAGE=off).
	NoOpenLineage bool
	// Atomic publishes asset events and DBT_ASSETS puts in JetStream atomic
	// batches when their streams allow it (publish.NewAtomicBatch): on a
	// server that fsyncs every write, one fsync per batch instead of one
	// per message. Without fsync per write, plain publishes are faster.
	Atomic bool
}

func (n *Normalizer) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

func (n *Normalizer) log() *slog.Logger {
	if n.Log != nil {
		return n.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Handle is the consume.Handler for artifacts-fetched events.
// The events it publishes carry the artifacts event's trace context.
func (n *Normalizer) Handle(ctx context.Context, msg jetstream.Msg) error {
	fetched, trace, err := fetchedOf(msg.Data())
	if err != nil {
		return retry.Permanent(err)
	}
	_, err = n.Harvest(events.WithTrace(ctx, trace), fetched)
	return err
}

func fetchedOf(data []byte) (events.ArtifactsFetched, events.Trace, error) {
	ev, err := events.Decode(data)
	if err != nil {
		return events.ArtifactsFetched{}, events.Trace{}, fmt.Errorf("read artifacts event: %w", err)
	}
	fetched, err := events.DataAs[events.ArtifactsFetched](ev)
	return fetched, events.TraceOf(ev), err
}

// GiveUp is the consume.Options.OnGiveUp hook: it closes the harvest with a
// harvest-failed event.
func (n *Normalizer) GiveUp(ctx context.Context, msg jetstream.Msg, cause error) {
	fetched, trace, err := fetchedOf(msg.Data())
	if err != nil {
		n.log().Error("cannot report failed harvest: unreadable artifacts event", "err", err)
		return
	}
	ctx = events.WithTrace(ctx, trace)
	failed := events.HarvestFailed{Run: fetched.Run, Generation: fetched.Generation, Stage: "normalize",
		Reason: cause.Error(), Fix: normalizeFix(cause), FailedAt: n.now().UTC()}
	if err := n.Ledger.Fail(ctx, failed); err != nil {
		n.log().Error("cannot publish harvest.failed", "run", fetched.Run.RunID, "err", err)
	}
}

// Harvest normalizes one run's artifacts and publishes the metadata; its
// events carry a child of ctx's trace context (events.WithTrace), if any.
func (n *Normalizer) Harvest(ctx context.Context, fetched events.ArtifactsFetched) (_ events.HarvestCompleted, err error) {
	started := n.now()
	ref := fetched.Run.RunRef
	trace := events.TraceFrom(ctx).Child() // the normalization's span
	ctx, span := n.Tracer.Start(ctx, "normalize", events.TraceFrom(ctx), trace,
		attribute.Int64("dbt.account_id", ref.AccountID), attribute.Int64("dbt.run_id", ref.RunID))
	defer func() { tracing.End(span, err) }()
	in, closeAll, err := n.open(ctx, fetched)
	if err != nil {
		return events.HarvestCompleted{}, err
	}
	defer closeAll()
	prev, err := loadState(ctx, n.KV, n.Store, ref)
	if err != nil {
		return events.HarvestCompleted{}, err
	}
	pub := &assetPublisher{n: n, ref: ref, gen: fetched.Generation, prev: prev, seen: map[string]bool{}, trace: trace,
		batch: n.Batch(ctx, events.StreamMetadata), puts: n.Batch(ctx, "KV_"+events.BucketAssets), changes: map[string]int{},
		at: resultTime(fetched.Run, started)}
	if !n.NoOpenLineage {
		pub.lineage = &openlineage.Collector{}
	}
	// Code is read for the OpenLineage SQL facet too; prepare drops it from
	// the asset events unless IncludeCode.
	sum, err := normalize.JSON(ctx, in, normalize.Options{Ref: ref, IncludeCode: n.IncludeCode || pub.lineage != nil, Prepare: pub.prepare}, pub.emit)
	if err != nil {
		err = fmt.Errorf("normalize run %d: %w", ref.RunID, err)
		if retry.IsPermanent(err) {
			// Fail for good only on the bytes the fetcher stored: a read
			// from a lagging replica can deliver other bytes.
			if verr := n.verify(ctx, fetched); verr != nil {
				return events.HarvestCompleted{}, fmt.Errorf("%s; not final, since %w", err.Error(), verr)
			}
		}
		return events.HarvestCompleted{}, err
	}
	if err := pub.batch.Wait(ctx); err != nil {
		return events.HarvestCompleted{}, err
	}
	if err := pub.puts.Wait(ctx); err != nil {
		return events.HarvestCompleted{}, err
	}
	removed, err := pub.removeVanished(ctx)
	if err != nil {
		return events.HarvestCompleted{}, err
	}
	var lineageNotes []string
	if pub.lineage != nil {
		if lineageNotes, err = n.publishLineage(ctx, fetched, sum, pub.lineage, trace); err != nil {
			return events.HarvestCompleted{}, err
		}
	}
	done := events.HarvestCompleted{
		Run: fetched.Run, Generation: fetched.Generation, Assets: sum.Assets, Counts: sum.Counts,
		ResultStatuses: sum.ResultStatuses, Tests: sum.Tests, Changes: pub.changes, Removed: removed,
		ArtifactVersions: versions(fetched, sum), Project: sum.Project, Groups: sum.Groups, Absent: fetched.Absent,
		Warnings: warnings(fetched, sum, append(pub.warnings, lineageNotes...)), StartedAt: started.UTC(), CompletedAt: n.now().UTC(),
	}
	done.NormalizeMillis = done.CompletedAt.Sub(done.StartedAt).Milliseconds()
	m, err := events.NewHarvestCompleted(done, trace)
	if err != nil {
		return done, retry.Permanent(err)
	}
	if _, err := publish.Event(ctx, n.JS, m); err != nil {
		return done, err
	}
	if err := n.Ledger.Put(ctx, ledger.Record{Run: ref, Generation: done.Generation,
		Status: ledger.Completed, Assets: done.Assets, At: done.CompletedAt}); err != nil {
		return done, err
	}
	n.count(done, fetched.Run.ReceivedAt)
	n.log().Info("harvest completed", "account", ref.AccountID, "run", ref.RunID, "assets", done.Assets,
		"ms", done.NormalizeMillis, "warnings", len(done.Warnings))
	return done, nil
}

// resultTime is the quoted JSON time of the run's results, for last_result:
// when the run finished, or the harvest's start when dbt Cloud did not say.
func resultTime(run events.RunFacts, harvested time.Time) []byte {
	at := harvested
	if run.FinishedAt != nil {
		at = *run.FinishedAt
	}
	b, err := at.UTC().MarshalJSON()
	if err != nil { // a finished_at outside years 0-9999
		b, _ = harvested.UTC().MarshalJSON()
	}
	return b
}

// Batch is how a harvest publishes to stream: in atomic batches when
// n.Atomic is set and the stream allows them, else one message at a time,
// both with a sliding window. (Exported for the benchmark that compares
// this publish path with raw async publishing.)
func (n *Normalizer) Batch(ctx context.Context, stream string) *publish.Batch {
	if n.Atomic {
		if s, err := n.JS.Stream(ctx, stream); err == nil && s.CachedInfo().Config.AllowAtomicPublish {
			return publish.NewAtomicBatch(n.JS, publish.MaxAtomicBatch, 4)
		}
	}
	return publish.NewBatch(n.JS, cmpOr(n.Window, 256))
}

// open starts streaming each stored artifact out of the object store; the
// manifest can be opened again for the normalizer's second pass. An object
// that is not there is a transient error: the fetcher stored it before it
// published, and the object store may have answered from a lagging replica.
//
// The object read must be the one the fetcher stored (its size and SHA-256
// are in the event): the object store reads an object's info from any
// replica, and one that is still catching up after a restart can name an
// older version whose chunks were purged, which would read as garbage and
// fail the harvest for good. Another version is a transient error instead.
func (n *Normalizer) open(ctx context.Context, fetched events.ArtifactsFetched) (normalize.Input, func(), error) {
	stored := map[string]events.StoredArtifact{}
	for _, a := range fetched.Artifacts {
		stored[a.Key] = a
	}
	return normalize.Open(fetched.Artifacts, func(key string) (io.ReadCloser, error) {
		r, err := n.get(ctx, key)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			// The fetcher stored it before it published, but the info may come
			// from a replica not caught up: transient, until MaxDeliver.
			err = fmt.Errorf("%w (stored by the fetcher; a replica may lag)", err)
		}
		if err != nil {
			return nil, err
		}
		if want, ok := stored[key]; ok {
			if err := sameObject(r.info, want); err != nil {
				_ = r.Close()
				return nil, err
			}
		}
		return r, nil
	})
}

// verify reads every stored artifact whole and compares its SHA-256 with
// the one the fetcher recorded.
func (n *Normalizer) verify(ctx context.Context, fetched events.ArtifactsFetched) error {
	for _, a := range fetched.Artifacts {
		if a.SHA256 == "" {
			continue
		}
		r, err := n.get(ctx, a.Key)
		if err != nil {
			return fmt.Errorf("re-read %s: %w", a.Key, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		_ = r.Close()
		if err != nil {
			return fmt.Errorf("re-read %s: %w", a.Key, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != a.SHA256 {
			return fmt.Errorf("re-read %s: sha256 %s, the fetcher stored %s", a.Key, got, a.SHA256)
		}
	}
	return nil
}

// sameObject checks that info is the object the fetcher stored as want.
func sameObject(info *jetstream.ObjectInfo, want events.StoredArtifact) error {
	if info == nil {
		return nil
	}
	digest := ""
	if sum, err := hex.DecodeString(want.SHA256); err == nil && len(sum) > 0 {
		digest = "SHA-256=" + base64.URLEncoding.EncodeToString(sum) // the object store's form
	}
	if (want.Size > 0 && int64(info.Size) != want.Size) || (digest != "" && info.Digest != "" && info.Digest != digest) {
		return fmt.Errorf("object %s read as %d bytes (%s), want the %d bytes (sha256 %s) the fetcher stored: the object store answered from a replica not caught up; retried",
			want.Key, info.Size, info.Digest, want.Size, want.SHA256)
	}
	return nil
}

// stallLimit is how long a read of a stored artifact may go without data.
// The object store never pauses that long; its reader does wait forever for
// chunks that were purged under it (a second fetch of the same run
// replaced the object while the normalizer read it), returning no data
// every 5 s. The harvest then fails, transiently, and is tried again on
// the object that replaced it.
const stallLimit = 30 * time.Second

// errStalled is the error of an artifact read that made no progress for
// stallLimit.
var errStalled = errors.New("no data from the object store: the object was replaced or removed while it was read")

// openTimeout bounds opening a stored artifact: the object store reads
// its info and creates a consumer, requests that die with a NATS node.
const openTimeout = 15 * time.Second

// readDeadline is the deadline of an artifact's whole read. nats.go's
// object store ends a read whose context has no deadline after its 5 s
// request timeout, so the read gets one far enough for any manifest; the
// handler's cancellation and stallLimit bound it in fact.
const readDeadline = 24 * time.Hour

// get opens a stored artifact, its reads guarded against stalling. An open
// that gets no answer within openTimeout fails (transiently).
func (n *Normalizer) get(ctx context.Context, key string) (*stallGuard, error) {
	rctx, cancel := context.WithTimeout(ctx, readDeadline)
	guard := time.AfterFunc(openTimeout, cancel)
	obj, err := n.Store.Get(rctx, key)
	if !guard.Stop() {
		if err == nil {
			_ = obj.Close()
		}
		cancel()
		return nil, fmt.Errorf("open %s: no answer from the object store within %s", key, openTimeout)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return &stallGuard{ReadCloser: obj, key: key, limit: stallLimit, cancel: cancel, info: info(obj)}, nil
}

func info(obj jetstream.ObjectResult) *jetstream.ObjectInfo {
	i, err := obj.Info()
	if err != nil {
		return nil
	}
	return i
}

// stallGuard fails a read that returns no data and no error for limit,
// instead of letting the caller ask again forever.
type stallGuard struct {
	io.ReadCloser
	key    string
	limit  time.Duration
	cancel context.CancelFunc
	info   *jetstream.ObjectInfo // what the object store says it is
	buf    []byte                // the reads' buffer (a stuck read keeps it)
	stuck  bool                  // a read blocked past limit
}

// Close closes the object and ends its read's context; an object whose
// read is stuck is only abandoned (closing it would wait for that read).
func (g *stallGuard) Close() error {
	if g.stuck {
		g.end()
		return nil
	}
	err := g.ReadCloser.Close()
	g.end()
	return err
}

func (g *stallGuard) end() {
	if g.cancel != nil {
		g.cancel()
	}
}

// Read reads through the object, in a goroutine so that a read that
// blocks (its chunks were purged under it) can be given up after limit:
// the object store's reader holds its lock while it waits, so it cannot be
// closed then; that goroutine and the object are abandoned, and every later
// Read fails.
func (g *stallGuard) Read(p []byte) (int, error) {
	if g.stuck {
		return 0, fmt.Errorf("read %s: %w", g.key, errStalled)
	}
	if len(g.buf) < len(p) {
		g.buf = make([]byte, len(p))
	}
	start := time.Now()
	for {
		buf := g.buf[:len(p)]
		done := make(chan readResult, 1)
		go func() {
			n, err := g.ReadCloser.Read(buf)
			done <- readResult{n, err}
		}()
		timer := time.NewTimer(g.limit)
		select {
		case r := <-done:
			timer.Stop()
			copy(p, buf[:r.n])
			if r.n > 0 || r.err != nil || len(p) == 0 {
				return r.n, r.err
			}
		case <-timer.C:
			g.stuck = true
			g.end()
			return 0, fmt.Errorf("read %s: %w", g.key, errStalled)
		}
		if time.Since(start) >= g.limit {
			return 0, fmt.Errorf("read %s: %w", g.key, errStalled)
		}
		time.Sleep(10 * time.Millisecond) // a reader that does not wait itself is not spun on
	}
}

type readResult struct {
	n   int
	err error
}

func versions(fetched events.ArtifactsFetched, sum normalize.Summary) map[string]string {
	out := map[string]string{}
	for _, a := range fetched.Artifacts {
		if a.SchemaVersion != "" {
			out[a.Name] = a.SchemaVersion
		}
	}
	for k, v := range sum.ArtifactVersions {
		out[k] = v
	}
	return out
}

func warnings(fetched events.ArtifactsFetched, sum normalize.Summary, own []string) []string {
	out := append([]string{}, fetched.Warnings...)
	for _, a := range fetched.Absent {
		if a.Name == events.SemanticManifestJSON {
			continue // optional: dbt before 1.6 writes none; listed in absent, not a warning
		}
		out = append(out, a.Reason)
	}
	out = append(out, sum.Warnings...)
	return append(out, own...)
}

func cmpOr(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}

// encodeAsset is the JSON of an asset as events carry it.
func encodeAsset(a events.Asset) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode asset %s: %w", a.UniqueID, err)
	}
	return b, nil
}

// count counts a completed harvest, its assets by resource type and, when
// its run event's arrival is known, its duration from it.
func (n *Normalizer) count(done events.HarvestCompleted, receivedAt *time.Time) {
	n.Metrics.Harvest(metrics.HarvestCompleted)
	for rt, c := range done.Counts {
		n.Metrics.AssetsPublished(rt, c)
	}
	if receivedAt != nil {
		n.Metrics.HarvestDuration(done.CompletedAt.Sub(*receivedAt))
	}
}
