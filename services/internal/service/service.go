// Package service wires the harvester's services once, for every binary: the
// receiver, fetcher and normalizer mains each run one role against an
// external NATS, and `harvester serve` runs all three around an embedded
// nats-server.
//
// Run owns everything it starts. On cancellation it stops in reverse start
// order: the HTTP server stops taking webhooks and finishes those in flight,
// the consumers stop pulling and settle the message in hand, the NATS
// connection drains, and the embedded server (if any) shuts down. Nothing
// acknowledged is lost: JetStream holds it on disk, and a message not yet
// acked is redelivered after a restart.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/consume"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/metrics"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/normalizer"
	"github.com/dbt-harvester/harvester/services/internal/receiver"
	"github.com/dbt-harvester/harvester/services/internal/reconcile"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// Roles says which services run in this process.
type Roles struct{ Receiver, Fetcher, Normalizer bool }

// Info tells the caller where the running process can be reached.
type Info struct {
	HTTPAddr    net.Addr // the receiver's address (webhooks, /metrics, /healthz, /readyz); nil without the receiver role
	MetricsAddr net.Addr // /metrics, /healthz, /readyz at Config.MetricsAddr; nil when not set
	NATSURL     string   // where subscribers connect
}

// Options are Run's dependencies.
type Options struct {
	Config config.Config
	Roles  Roles
	Logger *slog.Logger
	// Ready, if set, is called once everything listens and consumes.
	Ready func(Info)
	// Reconcile runs the reconciler beside the fetcher: it harvests completed
	// runs whose webhooks never came and warns about inactive webhook
	// subscriptions. Interval 0 (the zero value) leaves it off.
	Reconcile reconcile.Options
}

// Run runs the roles until ctx is cancelled (then returns nil) or one of them
// fails (then returns its error, after stopping the others).
func Run(ctx context.Context, opts Options) error {
	cfg, log := opts.Config, opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.NATS.Logger = log.With("component", "nats")
	for _, w := range cfg.Warnings {
		log.Warn("configuration: " + w)
	}
	m := metrics.New() // this process's registry, served on /metrics
	tracer, err := newTracer(ctx, cfg, opts.Roles, log)
	if err != nil {
		return err
	}
	defer func() { // last: after the stages ended their spans
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tracer.Shutdown(sctx); err != nil {
			log.Warn("exporting the last spans failed", "err", err)
		}
	}()
	conn, closeNATS, err := natsconn.Connect(ctx, cfg.NATS)
	if err != nil {
		return err
	}
	defer closeNATS()
	// An async publish's ack lost with a NATS node fails after asyncAckTimeout
	// instead of holding the normalizer's batch forever.
	js, err := jetstream.New(conn.NC, jetstream.WithPublishAsyncTimeout(asyncAckTimeout))
	if err != nil {
		return fmt.Errorf("service: jetstream: %w", err)
	}
	cfg.Topology.OpenLineageHTTP = cfg.Topology.OpenLineageHTTP || cfg.OpenLineage.URL != ""
	if err := topology.Ensure(ctx, js, cfg.Topology); err != nil {
		return err
	}
	topo := cfg.Topology.Defaults()
	watchConsumers(m, js, opts.Roles)

	// Consumers stop after the HTTP server: two contexts, cancelled in order.
	consCtx, stopConsumers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsumers()
	failed := make(chan error, 4)
	var consumers sync.WaitGroup
	if opts.Roles.Fetcher {
		f, err := newFetcher(ctx, js, cfg, m, log)
		if err != nil {
			return err
		}
		f.Tracer = tracer
		startConsumer(consCtx, &consumers, failed, js, events.StreamRuns, topology.DurableFetcher, f.Handle,
			consume.Options{MaxDeliver: topo.FetcherMaxDeliver, AckWait: topo.FetcherAckWait, OnGiveUp: f.GiveUp,
				Logger: log.With("component", "fetcher")})
		if opts.Reconcile.Interval > 0 {
			startReconciler(consCtx, &consumers, f, opts.Reconcile, log)
		}
		consumers.Go(func() { // chunks of downloads a killed fetcher never finished
			fetcher.SweepEvery(consCtx, js, sweepInterval, log.With("component", "fetcher"))
		})
	}
	if opts.Roles.Normalizer {
		n, err := newNormalizer(ctx, js, cfg, m, log)
		if err != nil {
			return err
		}
		n.Tracer = tracer
		startConsumer(consCtx, &consumers, failed, js, events.StreamArtifacts, topology.DurableNormalizer, n.Handle,
			consume.Options{MaxDeliver: topo.NormalizerMaxDeliver, AckWait: topo.NormalizerAckWait, OnGiveUp: n.GiveUp,
				Logger: log.With("component", "normalizer")})
		if cfg.OpenLineage.URL != "" {
			startOpenLineageHTTP(consCtx, &consumers, failed, js, cfg.OpenLineage, log)
		}
	}

	info := Info{NATSURL: conn.ClientURL()}
	var httpDone chan error // stays nil (never ready) without an HTTP server
	httpCtx, stopHTTP := context.WithCancel(ctx)
	defer stopHTTP()
	var servers sync.WaitGroup // the HTTP servers; each sends its end on httpDone
	serveHTTP := func(h http.Handler, o receiver.ServeOptions) (net.Addr, error) {
		if httpDone == nil {
			httpDone = make(chan error, 2)
		}
		ready := make(chan net.Addr, 1)
		errc := make(chan error, 1)
		o.Log, o.Ready = log, func(a net.Addr) { ready <- a }
		servers.Go(func() { errc <- receiver.Serve(httpCtx, h, o) })
		select {
		case a := <-ready:
			servers.Go(func() { httpDone <- <-errc })
			return a, nil
		case err := <-errc:
			return nil, err
		}
	}
	abort := func(err error) error {
		stopHTTP()
		servers.Wait()
		stopConsumers()
		consumers.Wait()
		return err
	}
	if opts.Roles.Receiver {
		r := &receiver.Receiver{Secrets: reveal(cfg.WebhookSecrets), JS: js, Log: log.With("component", "receiver"), Tracing: cfg.Tracing,
			Metrics: m, Tracer: tracer}
		if len(r.Secrets) == 0 {
			log.Warn("no DBT_CLOUD_WEBHOOK_SECRET: every webhook will be rejected with 401")
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		mux.Handle("/", r.Handler())
		if info.HTTPAddr, err = serveHTTP(mux, receiver.ServeOptions{Addr: cfg.HTTPAddr, CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey}); err != nil {
			return abort(err)
		}
		log.Info("receiver listening", "addr", info.HTTPAddr.String(), "path", dbtcloud.WebhookPath, "tls", cfg.TLSCert != "")
	}
	if cfg.MetricsAddr != "" {
		if info.MetricsAddr, err = serveHTTP(opsHandler(m, js), receiver.ServeOptions{Addr: cfg.MetricsAddr}); err != nil {
			return abort(err)
		}
		log.Info("metrics listening", "addr", info.MetricsAddr.String(), "paths", "/metrics /healthz /readyz")
	}
	log.Info("harvester running", "nats", info.NATSURL, "receiver", opts.Roles.Receiver,
		"fetcher", opts.Roles.Fetcher, "normalizer", opts.Roles.Normalizer)
	if opts.Ready != nil {
		opts.Ready(info)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
	case runErr = <-httpDone:
	}
	stopHTTP()
	servers.Wait()
	for len(httpDone) > 0 {
		if err := <-httpDone; err != nil && runErr == nil {
			runErr = err
		}
	}
	stopConsumers()
	consumers.Wait()
	log.Info("harvester stopped; draining NATS")
	return runErr
}

// asyncAckTimeout bounds the wait for one asynchronous publish's ack.
const asyncAckTimeout = 15 * time.Second

// sweepInterval is how often a fetcher removes orphan artifact chunks (see
// fetcher.Sweep), the first time when it starts.
const sweepInterval = 6 * time.Hour

func startConsumer(ctx context.Context, wg *sync.WaitGroup, failed chan<- error, js jetstream.JetStream,
	stream, durable string, h consume.Handler, opts consume.Options) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		cons, err := js.Consumer(ctx, stream, durable)
		if err == nil {
			err = consume.Run(ctx, cons, h, opts)
		}
		if err != nil {
			failed <- fmt.Errorf("service: %s: %w", durable, err)
		}
	}()
}

// startReconciler runs the reconciler with the fetcher's clients until ctx
// is cancelled; it logs its own failures and retries them next pass.
func startReconciler(ctx context.Context, wg *sync.WaitGroup, f *fetcher.Fetcher, o reconcile.Options, log *slog.Logger) {
	r := &reconcile.Reconciler{Fetcher: f, Options: o, Log: log.With("component", "reconciler")}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = r.Run(ctx) // nil once ctx is cancelled
	}()
}

func newFetcher(ctx context.Context, js jetstream.JetStream, cfg config.Config, m *metrics.Metrics, log *slog.Logger) (*fetcher.Fetcher, error) {
	store, err := js.ObjectStore(ctx, events.BucketArtifacts)
	if err != nil {
		return nil, fmt.Errorf("service: object store: %w", err)
	}
	if len(cfg.Accounts) == 0 {
		log.Warn("no dbt Cloud account configured (DBT_CLOUD_ACCOUNT_ID or HARVESTER_CONFIG): run events are stored but not harvested")
	}
	l, err := ledger.Open(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	l.Metrics = m
	f, err := fetcher.New(js, store, l, cfg.Accounts, m, log.With("component", "fetcher"))
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	f.Tracing = cfg.Tracing
	return f, nil
}

func newNormalizer(ctx context.Context, js jetstream.JetStream, cfg config.Config, m *metrics.Metrics, log *slog.Logger) (*normalizer.Normalizer, error) {
	store, err := js.ObjectStore(ctx, events.BucketArtifacts)
	if err != nil {
		return nil, fmt.Errorf("service: object store: %w", err)
	}
	kv, err := js.KeyValue(ctx, events.BucketAssets)
	if err != nil {
		return nil, fmt.Errorf("service: kv: %w", err)
	}
	l, err := ledger.Open(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	l.Metrics = m
	return &normalizer.Normalizer{JS: js, Store: store, KV: kv, Ledger: l, IncludeCode: cfg.IncludeCode,
		OpenLineage: openLineageOptions(cfg.OpenLineage), NoOpenLineage: cfg.OpenLineage.Off,
		Atomic: !cfg.NATS.FastSync, Log: log.With("component", "normalizer"), Metrics: m}, nil
}

func reveal(secrets []config.Secret) [][]byte {
	out := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		out = append(out, []byte(s.Reveal()))
	}
	return out
}
