// The normalizer binary runs the harvester's normalizer alone against an external NATS
// (NATS_URL); it takes the flags and environment of `harvester normalizer` (see
// the README).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/dbt-harvester/harvester/services/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := service.Command(ctx, "normalizer", os.Args[1:], os.Getenv, os.Stderr, service.Roles{Normalizer: true})
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "normalizer:", err)
		os.Exit(1)
	}
}
