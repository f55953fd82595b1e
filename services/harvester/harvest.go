package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
)

const harvestUsage = "harvest --job J | --run R | --environment E [--account A] [--stdout] [--include-code] [--config FILE] [--nats-url URL]"

// runHarvest is `harvester harvest`, the collector's classic mode: it
// harvests one run, chosen by --run, or the most recent successful run with
// artifacts of --job, or of any deploy job (never a CI job) of --environment.
// Into the pipeline: the artifacts go to the object store and the
// artifacts-fetched event to DBT_ARTIFACTS on NATS_URL (a running `harvester
// serve` normalizes and publishes them); its summary is printed. With
// --stdout: no NATS; the artifacts go to a temporary folder and are
// normalized as `harvester normalize` does, NDJSON on stdout, the summary on
// stderr.
func runHarvest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("harvest", harvestUsage, stderr)
	var sel selection
	fs.Int64Var(&sel.job, "job", 0, "harvest the most recent successful run of this job that has artifacts")
	fs.Int64Var(&sel.run, "run", 0, "harvest this run")
	fs.Int64Var(&sel.environment, "environment", 0, "harvest the most recent successful run of any deploy job of this environment")
	account := fs.Int64("account", 0, "the dbt Cloud account (needed when several are configured)")
	toStdout := fs.Bool("stdout", false, "write the harvested assets as NDJSON to stdout instead of publishing them; no NATS")
	includeCode := fs.Bool("include-code", getenv("HARVESTER_INCLUDE_CODE") == "1", "keep raw and compiled code (also HARVESTER_INCLUDE_CODE=1)")
	configFile := fs.String("config", getenv(config.EnvConfigFile), "YAML configuration file (env HARVESTER_CONFIG)")
	natsURL := fs.String("nats-url", getenv("NATS_URL"), "NATS of the running pipeline (env NATS_URL, default "+defaultNATSURL+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := sel.validate(fs.NArg()); err != nil {
		fs.Usage()
		return err
	}
	cfg, err := config.Load(config.WithFile(getenv, *configFile))
	if err != nil {
		return err
	}
	cfg.NATS.URL = *natsURL
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	acct, err := pickAccount(cfg, *account)
	if err != nil {
		return err
	}
	c, err := newClient(acct)
	if err != nil {
		return err
	}
	run, err := sel.find(ctx, c)
	if err != nil {
		return err
	}
	ref := fetcher.Facts(run, "").RunRef
	fmt.Fprintf(stderr, "harvesting run %d of job %d (account %d, project %d, environment %d)\n",
		ref.RunID, ref.JobID, ref.AccountID, ref.ProjectID, ref.EnvironmentID)
	req := fetcher.Request{Ref: ref, Generation: 1}
	if *toStdout {
		f := &fetcher.Fetcher{Clients: map[int64]*dbtcloud.Client{acct.ID: c}, Log: cfg.NewLogger(stderr), Tracing: cfg.Tracing}
		return harvestToStdout(ctx, f, req, *includeCode, stdout, stderr)
	}
	js, closeNATS, err := connectNATS(ctx, cfg, "harvester-harvest")
	if err != nil {
		return err
	}
	defer closeNATS()
	f, err := pipelineFetcher(ctx, js, c, cfg.Tracing, cfg.NewLogger(stderr))
	if err != nil {
		return err
	}
	if req.Generation, err = f.Ledger.Next(ctx, ref.AccountID, ref.RunID); err != nil {
		return err
	}
	out, err := f.Fetch(ctx, req)
	if err != nil {
		return fmt.Errorf("harvest run %d: %w", ref.RunID, err)
	}
	printFetched(stdout, out)
	return nil
}

// selection is what run to harvest: exactly one field is set.
type selection struct{ job, run, environment int64 }

func (s selection) validate(nargs int) error {
	n := 0
	for _, v := range []int64{s.job, s.run, s.environment} {
		if v < 0 {
			return errors.New("harvest: IDs are positive")
		}
		if v > 0 {
			n++
		}
	}
	switch {
	case nargs > 0:
		return errors.New("harvest: unexpected arguments; give --job, --run or --environment")
	case n != 1:
		return errors.New("harvest: give exactly one of --job, --run or --environment")
	}
	return nil
}

// find reads the run to harvest.
func (s selection) find(ctx context.Context, c *dbtcloud.Client) (dbtcloud.Run, error) {
	if s.run > 0 {
		return c.GetRun(ctx, s.run)
	}
	run, err := c.LatestWithArtifacts(ctx, s.job, s.environment)
	if err != nil {
		return run, fmt.Errorf("harvest: %w", err)
	}
	return run, nil
}
