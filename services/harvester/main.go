// The harvester binary runs the whole dbt Cloud harvester in one process with
// an embedded NATS server (serve), each service alone, and the operator
// commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command runs one subcommand; it returns when ctx is cancelled or the work is done.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run receiver, fetcher and normalizer with embedded NATS (or NATS_URL)", runServe},
		{"receiver", "run the webhook receiver alone against NATS_URL", runReceiver},
		{"fetcher", "run the fetcher alone against NATS_URL", runFetcher},
		{"normalizer", "run the normalizer alone against NATS_URL", runNormalizer},
		{"harvest", "harvest one run (--run, or the latest of --job or --environment) into the pipeline or --stdout", runHarvest},
		{"normalize", "normalize a local target/ folder to NDJSON on stdout", runNormalize},
		{"devcloud", "run the dbt Cloud simulator", runDevcloud},
		{"generate", "generate a realistic dbt project's artifacts", runGenerate},
		{"demo", "run the whole pipeline against the simulator and print what it harvests", runDemo},
		{"webhook", "register, list, test or delete the dbt Cloud webhook subscription", runWebhook},
		{"doctor", "check every set-up step (dbt Cloud, webhook, NATS) and say what to fix", runDoctor},
		{"status", "show streams, consumers, the last harvest per environment, failures and webhook health", runStatus},
		{"backfill", "harvest a job's past runs into the pipeline, oldest first", runBackfill},
		{"replay", "re-harvest run events already in DBT_RUNS as a new generation", runReplay},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "harvester:", err)
		}
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errors.New("no command")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: harvester <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
}
