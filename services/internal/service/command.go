package service

import (
	"context"
	"errors"
	"flag"
	"io"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/reconcile"
)

// Command is the command line of every service binary and of `harvester
// serve|receiver|fetcher|normalizer`: it loads the configuration from the
// environment and the --config file, lets flags override it, and runs roles
// until ctx is cancelled. Only name "serve" may embed NATS; the others need
// NATS_URL.
func Command(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, roles Roles) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", getenv(config.EnvConfigFile), "YAML configuration file with the dbt Cloud accounts (env HARVESTER_CONFIG)")
	natsURL := fs.String("nats-url", getenv("NATS_URL"), "external NATS URL (env NATS_URL); empty embeds a server")
	var storeDir, listen, natsConfig, httpAddr *string
	if name == "serve" {
		natsConfig = fs.String("nats-config", "", "nats-server config file for the embedded server: users, permissions, TLS (env HARVESTER_NATS_CONFIG; e.g. "+natsconn.ShippedConfig+")")
		storeDir = fs.String("store-dir", "", "embedded JetStream store directory (env HARVESTER_STORE_DIR, default ./data)")
		listen = fs.String("nats-listen", "", "embedded NATS client address (env HARVESTER_NATS_LISTEN, default 127.0.0.1:4222)")
	}
	if roles.Receiver {
		httpAddr = fs.String("http-addr", "", "webhook receiver address (env HARVESTER_HTTP_ADDR, default :8080)")
	}
	metricsAddr := fs.String("metrics-addr", "", "address for /metrics, /healthz and /readyz (env HARVESTER_METRICS_ADDR; the receiver also serves them on its own)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(config.WithFile(getenv, *configFile))
	if err != nil {
		return err
	}
	cfg.NATS.URL = *natsURL
	for _, o := range []struct{ flag, dst *string }{
		{storeDir, &cfg.NATS.StoreDir}, {listen, &cfg.NATS.Listen}, {natsConfig, &cfg.NATS.ServerConfig}, {httpAddr, &cfg.HTTPAddr},
		{metricsAddr, &cfg.MetricsAddr},
	} {
		if o.flag != nil && *o.flag != "" {
			*o.dst = *o.flag
		}
	}
	if cfg.NATS.URL != "" && cfg.NATS.ServerConfig != "" {
		cfg.Warnings = append(cfg.Warnings, "--nats-config (HARVESTER_NATS_CONFIG) is ignored: it configures the embedded server, and NATS_URL names an external one")
	}
	if name != "serve" && cfg.NATS.URL == "" {
		return errNeedsNATS
	}
	rec, err := reconcile.OptionsFromEnv(getenv) // HARVESTER_RECONCILE_INTERVAL, used with the fetcher
	if err != nil {
		return err
	}
	return Run(ctx, Options{Config: cfg, Roles: roles, Logger: cfg.NewLogger(stderr), Reconcile: rec})
}

// errNeedsNATS is returned when a single service is started without NATS_URL.
var errNeedsNATS = errors.New("NATS_URL is required: the single services share an external NATS (`harvester serve` embeds one)")
