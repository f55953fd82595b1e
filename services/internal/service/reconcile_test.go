package service

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/reconcile"
)

// TestReconcilerInServe runs serve with the reconciler on against an account
// that sent no webhook (no subscription): the reconciler's first pass
// harvests the run anyway.
func TestReconcilerInServe(t *testing.T) {
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(5)); err != nil {
		t.Fatal(err)
	}
	cloud, err := devcloud.New(devcloud.Config{Token: testToken, ArtifactsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(cloud.Handler())
	t.Cleanup(api.Close)
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan Info, 1), make(chan error, 1)
	cfg := config.Config{
		Accounts: []config.Account{{ID: 1, AccessURL: api.URL, Token: testToken}},
		HTTPAddr: "127.0.0.1:0",
		NATS:     natsconn.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1"},
	}
	go func() {
		done <- Run(ctx, Options{Config: cfg, Roles: Roles{Receiver: true, Fetcher: true, Normalizer: true},
			Reconcile: reconcile.Options{Interval: time.Hour}, Ready: func(i Info) { ready <- i }})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready after 30s")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel = %v", err)
		}
	}()
	nc, err := nats.Connect(info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cons, err := js.OrderedConsumer(t.Context(), events.StreamMetadata, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"dbt.metadata.*.*.*.harvest"}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
	if err != nil {
		t.Fatalf("no harvest from the reconciler: %v", err)
	}
	ev, err := events.Decode(msg.Data())
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type() != events.TypeHarvestCompleted {
		t.Fatalf("harvest event %s: %s", ev.Type(), ev.Data())
	}
	if ref, _ := events.RefOf(ev); ref.RunID != 400 {
		t.Errorf("harvested run %d, want 400", ref.RunID)
	}
}
