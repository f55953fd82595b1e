// The fetcher binary runs the harvester's fetcher alone against an external NATS
// (NATS_URL); it takes the flags and environment of `harvester fetcher` (see
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
	err := service.Command(ctx, "fetcher", os.Args[1:], os.Getenv, os.Stderr, service.Roles{Fetcher: true})
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "fetcher:", err)
		os.Exit(1)
	}
}
