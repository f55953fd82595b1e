package main

import (
	"context"
	"io"

	"github.com/dbt-harvester/harvester/services/internal/service"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	return service.Command(ctx, "serve", args, getenv, stderr, service.Roles{Receiver: true, Fetcher: true, Normalizer: true})
}

func runReceiver(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	return service.Command(ctx, "receiver", args, getenv, stderr, service.Roles{Receiver: true})
}

func runFetcher(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	return service.Command(ctx, "fetcher", args, getenv, stderr, service.Roles{Fetcher: true})
}

func runNormalizer(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	return service.Command(ctx, "normalizer", args, getenv, stderr, service.Roles{Normalizer: true})
}
