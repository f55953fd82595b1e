package service

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/consume"
	"github.com/dbt-harvester/harvester/services/internal/openlineage"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// openLineageOptions names the OpenLineage jobs and datasets as configured.
func openLineageOptions(c config.OpenLineage) openlineage.Options {
	return openlineage.Options{Namespace: c.Namespace, DatasetNamespaces: c.DatasetNamespaces, DatasetNamespace: c.DatasetNamespace}
}

// openLineageBackoff bounds the wait between two tries of an event the
// lineage backend did not take: it doubles from a second up to this.
const openLineageBackoff = time.Minute

// startOpenLineageHTTP runs the HTTP transport on the durable consumer
// topology.DurableOpenLineageHTTP: every event of DBT_OPENLINEAGE is POSTed
// in stream order, and a transient failure is retried without end (the
// consumer has MaxAckPending 1, so nothing overtakes it).
func startOpenLineageHTTP(ctx context.Context, wg *sync.WaitGroup, failed chan<- error, js jetstream.JetStream,
	c config.OpenLineage, log *slog.Logger) {
	t := &openlineage.Transport{URL: c.URL, APIKey: c.APIKey.Reveal()}
	log.Info("OpenLineage HTTP transport on", "endpoint", t.Shown(), "api_key", c.APIKey != "")
	startConsumer(ctx, wg, failed, js, events.StreamOpenLineage, topology.DurableOpenLineageHTTP, t.Handle,
		consume.Options{MaxDeliver: math.MaxInt32, AckWait: time.Minute, BaseBackoff: time.Second,
			MaxBackoff: openLineageBackoff, WorkTimeout: 2 * time.Minute, Logger: log.With("component", "openlineage-http")})
}
