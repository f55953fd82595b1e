// Package servicetest runs `harvester serve` in a test: service.Run with an
// embedded nats-server (temporary store, random loopback port), its receiver
// on a random port, and a JetStream client to read what it publishes. Every
// serve-based test starts the pipeline through Start, so each one waits for
// readiness, shuts down and checks the shutdown the same way.
package servicetest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/service"
)

// Pipeline is a running service.Run.
type Pipeline struct {
	Info    service.Info
	HookURL string // the receiver's webhook URL; "" without the receiver role
	NC      *nats.Conn
	JS      jetstream.JetStream

	cancel context.CancelFunc
	done   chan error
	err    error
	exited bool
}

// Start runs opts until the test ends (or Stop). Left empty, the roles are
// all three, the receiver listens on a random loopback port, the embedded
// server on another with a temporary store, and warnings are logged to the
// test's output.
func Start(t testing.TB, opts service.Options) *Pipeline {
	t.Helper()
	if opts.Roles == (service.Roles{}) {
		opts.Roles = service.Roles{Receiver: true, Fetcher: true, Normalizer: true}
	}
	if opts.Config.HTTPAddr == "" {
		opts.Config.HTTPAddr = "127.0.0.1:0"
	}
	if opts.Config.NATS.URL == "" {
		if opts.Config.NATS.StoreDir == "" {
			opts.Config.NATS.StoreDir = t.TempDir()
		}
		if opts.Config.NATS.Listen == "" {
			opts.Config.NATS.Listen = "127.0.0.1:-1"
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan service.Info, 1)
	p := &Pipeline{cancel: cancel, done: make(chan error, 1)}
	opts.Ready = func(i service.Info) { ready <- i }
	go func() { p.done <- service.Run(ctx, opts) }()
	select {
	case p.Info = <-ready:
	case err := <-p.done:
		cancel()
		t.Fatalf("service.Run: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("service.Run not ready after 30s")
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("service.Run after cancel = %v, want nil", err)
		}
	})
	if p.Info.HTTPAddr != nil {
		p.HookURL = "http://" + p.Info.HTTPAddr.String() + dbtcloud.WebhookPath
	}
	var err error
	if p.NC, err = nats.Connect(p.Info.NATSURL); err != nil {
		t.Fatalf("connect to %s: %v", p.Info.NATSURL, err)
	}
	t.Cleanup(p.NC.Close)
	if p.JS, err = jetstream.New(p.NC); err != nil {
		t.Fatal(err)
	}
	return p
}

// Stop shuts the pipeline down and returns what service.Run returned;
// later calls return the same.
func (p *Pipeline) Stop() error {
	if !p.exited {
		p.cancel()
		p.err, p.exited = <-p.done, true
	}
	return p.err
}

// NextHarvest waits up to within for the next event on the harvest
// subjects of DBT_METADATA (completed or failed), reading from the start.
func (p *Pipeline) NextHarvest(t testing.TB, within time.Duration) event.Event {
	t.Helper()
	cons, err := p.JS.OrderedConsumer(t.Context(), events.StreamMetadata, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"dbt.metadata.*.*.*.harvest"}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(within))
	if err != nil {
		t.Fatalf("no harvest event within %s: %v", within, err)
	}
	ev, err := events.Decode(msg.Data())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
