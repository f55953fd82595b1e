// The normalizer binary runs the harvester's normalizer alone against an external NATS
// (NATS_URL); see the README for its configuration.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "normalizer:", err)
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
	return service.Run(ctx, service.Options{Config: cfg, Roles: service.Roles{Normalizer: true}, Logger: cfg.NewLogger(os.Stderr)})
}
