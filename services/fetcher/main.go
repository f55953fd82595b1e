// The fetcher binary runs the harvester's fetcher alone against an external NATS
// (NATS_URL); see the README for its configuration.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/reconcile"
	"github.com/dbt-harvester/harvester/services/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "fetcher:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	if cfg.NATS.URL == "" {
		return service.ErrNeedsNATS
	}
	rec, err := reconcile.OptionsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	return service.Run(ctx, service.Options{Config: cfg, Roles: service.Roles{Fetcher: true}, Logger: cfg.NewLogger(os.Stderr), Reconcile: rec})
}
