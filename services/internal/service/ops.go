package service

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/metrics"
	"github.com/dbt-harvester/harvester/services/internal/topology"
	"github.com/dbt-harvester/harvester/services/internal/tracing"
)

// opsHandler serves HARVESTER_METRICS_ADDR: /metrics, /healthz (200 while
// the process runs) and /readyz (200 while JetStream answers), for the
// fetcher and normalizer, which have no other HTTP port.
func opsHandler(m *metrics.Metrics, js jetstream.JetStream) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := js.AccountInfo(ctx); err != nil {
			http.Error(w, "jetstream unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// watchConsumers registers harvester_consumer_pending for the durable
// consumers of the roles, read from JetStream at each scrape.
func watchConsumers(m *metrics.Metrics, js jetstream.JetStream, roles Roles) {
	streams := map[string]string{} // durable -> stream
	var names []string
	if roles.Fetcher {
		streams[topology.DurableFetcher] = events.StreamRuns
		names = append(names, topology.DurableFetcher)
	}
	if roles.Normalizer {
		streams[topology.DurableNormalizer] = events.StreamArtifacts
		names = append(names, topology.DurableNormalizer)
	}
	m.WatchConsumers(func(ctx context.Context, durable string) (uint64, error) {
		c, err := js.Consumer(ctx, streams[durable], durable)
		if err != nil {
			return 0, err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, err
		}
		return info.NumPending + uint64(info.NumAckPending), nil
	}, names...)
}

// newTracer starts the OTLP exporter when OTEL_EXPORTER_OTLP_ENDPOINT is
// set (nil, nil otherwise). The service name defaults to the roles'.
func newTracer(ctx context.Context, cfg config.Config, roles Roles, log *slog.Logger) (*tracing.Tracer, error) {
	o := cfg.OTel
	if o.ServiceName == "" {
		o.ServiceName = serviceName(roles)
	}
	t, err := tracing.New(ctx, o)
	if t != nil {
		where := "?"
		if u, err := url.Parse(o.URL()); err == nil {
			where = u.Redacted() // no password, should one be in the URL
		}
		log.Info("exporting spans over OTLP/HTTP", "url", where, "service", o.ServiceName)
	}
	return t, err
}

func serviceName(r Roles) string {
	switch r {
	case Roles{Receiver: true}:
		return "harvester-receiver"
	case Roles{Fetcher: true}:
		return "harvester-fetcher"
	case Roles{Normalizer: true}:
		return "harvester-normalizer"
	}
	return "harvester"
}
