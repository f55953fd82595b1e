// Package metrics holds the harvester's Prometheus collectors, one set per
// process, on a registry of their own (never the global one): the process's
// wiring makes one with [New] and hands it to each stage, which counts what
// it does through the methods below. Every method is safe on a nil
// *Metrics and then does nothing, so a stage run without metrics (a test,
// `harvester harvest`) needs no special case.
//
// The names and labels are public interface (README, "Operating it"):
//
//	harvester_webhooks_total{outcome}              counter   webhooks answered, by outcome
//	harvester_webhook_publish_seconds              histogram the receiver's JetStream publish
//	harvester_harvests_total{outcome}              counter   harvests closed: completed, failed, skipped
//	harvester_harvest_duration_seconds             histogram run event stored on DBT_RUNS to harvest.completed stored
//	harvester_assets_published_total{resource_type} counter  asset events of completed harvests
//	harvester_dbt_api_requests_total{endpoint,code} counter  dbt Cloud API answers, by route template and status
//	harvester_dbt_api_wait_seconds_total           counter   time requests waited for a 429 cooldown
//	harvester_artifact_bytes_total                 counter   artifact bytes stored in the object store
//	harvester_consumer_pending{consumer}           gauge     messages a durable consumer has not acked yet
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Webhook outcomes: what the receiver answered.
const (
	WebhookAccepted     = "accepted"     // 202: stored
	WebhookDuplicate    = "duplicate"    // 200: already stored (dbt's retry)
	WebhookUnauthorized = "unauthorized" // 401: bad signature
	WebhookInvalid      = "invalid"      // 400: not a run webhook we can route
	WebhookTooLarge     = "too_large"    // 413
	WebhookUnavailable  = "unavailable"  // 503: JetStream did not take it
	WebhookError        = "error"        // any other answer
)

// Harvest outcomes: how a run's harvest closed.
const (
	HarvestCompleted = "completed" // harvest.completed published
	HarvestFailed    = "failed"    // harvest.failed published
	HarvestSkipped   = "skipped"   // harvest.failed at stage "skip": a cancelled run
)

// Metrics is one process's collectors.
type Metrics struct {
	reg             *prometheus.Registry
	webhooks        *prometheus.CounterVec
	webhookPublish  prometheus.Histogram
	harvests        *prometheus.CounterVec
	harvestDuration prometheus.Histogram
	assets          *prometheus.CounterVec
	apiRequests     *prometheus.CounterVec
	apiWait         prometheus.Counter
	artifactBytes   prometheus.Counter
}

// New makes the collectors on a new registry, with the Go runtime's and the
// process's collectors beside them.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harvester_webhooks_total",
			Help: "dbt Cloud webhooks answered by the receiver, by outcome (accepted, duplicate, unauthorized, invalid, too_large, unavailable, error).",
		}, []string{"outcome"}),
		webhookPublish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "harvester_webhook_publish_seconds",
			Help:    "Time the receiver waited for JetStream to store a webhook's run event (dbt Cloud gives up after 10 s).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		harvests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harvester_harvests_total",
			Help: "Harvests closed by this process, by outcome (completed, failed, skipped: a cancelled run).",
		}, []string{"outcome"}),
		harvestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "harvester_harvest_duration_seconds",
			Help:    "Time from the run event stored on DBT_RUNS (the webhook received) to its harvest.completed event stored.",
			Buckets: []float64{.25, .5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600},
		}),
		assets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harvester_assets_published_total",
			Help: "Asset events published by completed harvests, by dbt resource type.",
		}, []string{"resource_type"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harvester_dbt_api_requests_total",
			Help: "dbt Cloud API requests, by endpoint (method and route template) and HTTP status code (\"error\": no answer).",
		}, []string{"endpoint", "code"}),
		apiWait: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harvester_dbt_api_wait_seconds_total",
			Help: "Seconds dbt Cloud API requests waited for an account's cooldown after a 429.",
		}),
		artifactBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harvester_artifact_bytes_total",
			Help: "Bytes of dbt artifacts downloaded and stored in the object store DBT_ARTIFACTS.",
		}),
	}
	m.reg.MustRegister(m.webhooks, m.webhookPublish, m.harvests, m.harvestDuration, m.assets,
		m.apiRequests, m.apiWait, m.artifactBytes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{WebhookAccepted, WebhookDuplicate, WebhookUnauthorized, WebhookInvalid, WebhookTooLarge, WebhookUnavailable} {
		m.webhooks.WithLabelValues(o)
	}
	for _, o := range []string{HarvestCompleted, HarvestFailed, HarvestSkipped} {
		m.harvests.WithLabelValues(o)
	}
	return m
}

// Handler serves the registry in Prometheus's text (or OpenMetrics) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the collectors are, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Webhook counts a webhook answered with outcome (one of Webhook*).
func (m *Metrics) Webhook(outcome string) {
	if m != nil {
		m.webhooks.WithLabelValues(outcome).Inc()
	}
}

// WebhookOutcome is the outcome of a webhook answered with HTTP status code.
func WebhookOutcome(code int) string {
	switch code {
	case http.StatusAccepted:
		return WebhookAccepted
	case http.StatusOK:
		return WebhookDuplicate
	case http.StatusUnauthorized:
		return WebhookUnauthorized
	case http.StatusBadRequest:
		return WebhookInvalid
	case http.StatusRequestEntityTooLarge:
		return WebhookTooLarge
	case http.StatusServiceUnavailable:
		return WebhookUnavailable
	}
	return WebhookError
}

// WebhookPublished observes how long storing a webhook's run event took.
func (m *Metrics) WebhookPublished(d time.Duration) {
	if m != nil {
		m.webhookPublish.Observe(d.Seconds())
	}
}

// Harvest counts a harvest closed with outcome (one of Harvest*).
func (m *Metrics) Harvest(outcome string) {
	if m != nil {
		m.harvests.WithLabelValues(outcome).Inc()
	}
}

// HarvestDuration observes the time from the run event stored to the
// harvest completed.
func (m *Metrics) HarvestDuration(d time.Duration) {
	if m != nil {
		m.harvestDuration.Observe(d.Seconds())
	}
}

// AssetsPublished counts n asset events of resourceType.
func (m *Metrics) AssetsPublished(resourceType string, n int) {
	if m != nil && n > 0 {
		m.assets.WithLabelValues(resourceType).Add(float64(n))
	}
}

// APIRequest counts a dbt Cloud API request to endpoint (a route template,
// never a URL with IDs) answered with HTTP status code, 0 for no answer.
func (m *Metrics) APIRequest(endpoint string, code int) {
	if m == nil {
		return
	}
	label := "error"
	if code > 0 {
		label = strconv.Itoa(code)
	}
	m.apiRequests.WithLabelValues(endpoint, label).Inc()
}

// APIWait adds time a request waited for a 429 cooldown.
func (m *Metrics) APIWait(d time.Duration) {
	if m != nil && d > 0 {
		m.apiWait.Add(d.Seconds())
	}
}

// ArtifactBytes counts n bytes of an artifact stored.
func (m *Metrics) ArtifactBytes(n int64) {
	if m != nil && n > 0 {
		m.artifactBytes.Add(float64(n))
	}
}

// PendingFunc reports how many messages a durable consumer has not
// acknowledged yet (undelivered plus in flight).
type PendingFunc func(ctx context.Context, consumer string) (uint64, error)

// WatchConsumers registers harvester_consumer_pending for the consumers:
// at every scrape it asks pending (2 s at most for all) about each one,
// labelled with its durable name. A consumer pending cannot describe is
// left out of that scrape.
func (m *Metrics) WatchConsumers(pending PendingFunc, consumers ...string) {
	if m == nil || len(consumers) == 0 {
		return
	}
	m.reg.MustRegister(&pendingCollector{pending: pending, consumers: consumers})
}

var pendingDesc = prometheus.NewDesc("harvester_consumer_pending",
	"Messages of a durable consumer not acknowledged yet: not delivered (num_pending) plus delivered and in flight (num_ack_pending).",
	[]string{"consumer"}, nil)

type pendingCollector struct {
	pending   PendingFunc
	consumers []string
}

func (c *pendingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- pendingDesc }

func (c *pendingCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, name := range c.consumers {
		n, err := c.pending(ctx, name)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(n), name)
	}
}
