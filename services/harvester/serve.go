package main

import (
	"context"
	"errors"
	"flag"
	"io"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/service"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	return runRoles(ctx, "serve", args, getenv, stderr, service.Roles{Receiver: true, Fetcher: true, Normalizer: true})
}

func runReceiver(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	return runRoles(ctx, "receiver", args, getenv, stderr, service.Roles{Receiver: true})
}

func runFetcher(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	return runRoles(ctx, "fetcher", args, getenv, stderr, service.Roles{Fetcher: true})
}

func runNormalizer(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	return runRoles(ctx, "normalizer", args, getenv, stderr, service.Roles{Normalizer: true})
}

// runRoles loads the configuration from the environment, lets flags override
// it, and runs the roles until ctx is cancelled.
func runRoles(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, roles service.Roles) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.NATS.URL, "nats-url", cfg.NATS.URL, "external NATS URL (env NATS_URL); empty embeds a server")
	if name == "serve" {
		fs.StringVar(&cfg.NATS.StoreDir, "store-dir", cfg.NATS.StoreDir, "embedded JetStream store directory (env HARVESTER_STORE_DIR)")
		fs.StringVar(&cfg.NATS.Listen, "nats-listen", cfg.NATS.Listen, "embedded NATS client address (env HARVESTER_NATS_LISTEN)")
	}
	if roles.Receiver {
		fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "webhook receiver address (env HARVESTER_HTTP_ADDR)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name != "serve" && cfg.NATS.URL == "" {
		return errors.New(name + ": NATS_URL is required: the single services share an external NATS (`harvester serve` embeds one)")
	}
	return service.Run(ctx, service.Options{Config: cfg, Roles: roles, Logger: cfg.NewLogger(stderr)})
}
