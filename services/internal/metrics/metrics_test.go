package metrics_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dbt-harvester/harvester/services/internal/metrics"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
)

func TestWebhookOutcome(t *testing.T) {
	tests := []struct {
		code int
		want string
	}{
		{http.StatusAccepted, metrics.WebhookAccepted},
		{http.StatusOK, metrics.WebhookDuplicate},
		{http.StatusUnauthorized, metrics.WebhookUnauthorized},
		{http.StatusBadRequest, metrics.WebhookInvalid},
		{http.StatusRequestEntityTooLarge, metrics.WebhookTooLarge},
		{http.StatusServiceUnavailable, metrics.WebhookUnavailable},
		{http.StatusMethodNotAllowed, metrics.WebhookError},
	}
	for _, tt := range tests {
		if got := metrics.WebhookOutcome(tt.code); got != tt.want {
			t.Errorf("WebhookOutcome(%d) = %q, want %q", tt.code, got, tt.want)
		}
	}
}

// TestNilMetrics checks that a stage without metrics can call every method.
func TestNilMetrics(t *testing.T) {
	var m *metrics.Metrics
	m.Webhook(metrics.WebhookAccepted)
	m.WebhookPublished(time.Second)
	m.Harvest(metrics.HarvestCompleted)
	m.HarvestDuration(time.Second)
	m.AssetsPublished("model", 3)
	m.APIRequest("GET /x", 200)
	m.APIWait(time.Second)
	m.ArtifactBytes(10)
	m.WatchConsumers(nil, "d")
}

func TestCounters(t *testing.T) {
	m := metrics.New()
	m.Webhook(metrics.WebhookAccepted)
	m.Webhook(metrics.WebhookAccepted)
	m.Harvest(metrics.HarvestFailed)
	m.AssetsPublished("model", 3)
	m.AssetsPublished("test", 0) // nothing: no empty series
	m.APIRequest("GET /api/v2/accounts/{id}/runs/{id}", 0)
	want := `
# HELP harvester_webhooks_total dbt Cloud webhooks answered by the receiver, by outcome (accepted, duplicate, unauthorized, invalid, too_large, unavailable, error).
# TYPE harvester_webhooks_total counter
harvester_webhooks_total{outcome="accepted"} 2
harvester_webhooks_total{outcome="duplicate"} 0
harvester_webhooks_total{outcome="invalid"} 0
harvester_webhooks_total{outcome="too_large"} 0
harvester_webhooks_total{outcome="unauthorized"} 0
harvester_webhooks_total{outcome="unavailable"} 0
# HELP harvester_harvests_total Harvests closed by this process, by outcome (completed, failed, skipped: a cancelled run).
# TYPE harvester_harvests_total counter
harvester_harvests_total{outcome="completed"} 0
harvester_harvests_total{outcome="failed"} 1
harvester_harvests_total{outcome="skipped"} 0
# HELP harvester_assets_published_total Asset events published by completed harvests, by dbt resource type.
# TYPE harvester_assets_published_total counter
harvester_assets_published_total{resource_type="model"} 3
# HELP harvester_dbt_api_requests_total dbt Cloud API requests, by endpoint (method and route template) and HTTP status code ("error": no answer).
# TYPE harvester_dbt_api_requests_total counter
harvester_dbt_api_requests_total{code="error",endpoint="GET /api/v2/accounts/{id}/runs/{id}"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "harvester_webhooks_total",
		"harvester_harvests_total", "harvester_assets_published_total", "harvester_dbt_api_requests_total"); err != nil {
		t.Error(err)
	}
}

// TestConsumerPending checks the gauge against a real JetStream consumer:
// messages not yet delivered, then delivered and not acked, then none.
func TestConsumerPending(t *testing.T) {
	ctx := t.Context()
	_, js := natstest.Run(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "work", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	m.WatchConsumers(func(ctx context.Context, durable string) (uint64, error) {
		c, err := js.Consumer(ctx, "S", durable)
		if err != nil {
			return 0, err // "missing": left out
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, err
		}
		return info.NumPending + uint64(info.NumAckPending), nil
	}, "work", "missing")
	for range 3 {
		if _, err := js.Publish(ctx, "s.x", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() string {
		return `
# HELP harvester_consumer_pending Messages of a durable consumer not acknowledged yet: not delivered (num_pending) plus delivered and in flight (num_ack_pending).
# TYPE harvester_consumer_pending gauge
harvester_consumer_pending{consumer="work"} `
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(pending()+"3\n"), "harvester_consumer_pending"); err != nil {
		t.Errorf("3 published: %v", err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for msg := range batch.Messages() {
		msgs = append(msgs, msg)
	}
	if len(msgs) != 2 {
		t.Fatalf("fetched %d, want 2", len(msgs))
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(pending()+"3\n"), "harvester_consumer_pending"); err != nil {
		t.Errorf("2 in flight, 1 undelivered: %v", err)
	}
	for _, msg := range msgs {
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(pending()+"1\n"), "harvester_consumer_pending"); err != nil {
		t.Errorf("2 acked: %v", err)
	}
}
