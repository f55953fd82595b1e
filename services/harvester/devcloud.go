package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/dbt-harvester/harvester/services/internal/devcloud"
)

// runDevcloud serves the dbt Cloud simulator until ctx is done. It prints
// the base URL alone on one stdout line once listening; logs go to stderr.
// The token and the webhook secret are never printed. --config FILE serves
// a YAML world of accounts, projects, environments, jobs and runs (see
// devcloud.File) instead of the one run of --artifacts.
func runDevcloud(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devcloud", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg devcloud.Config
	listen := fs.String("listen", "127.0.0.1:8090", "address to listen on (:0 picks a port)")
	token := fs.String("token", "", "the API token to accept (default $DBT_CLOUD_API_TOKEN)")
	config := fs.String("config", "", "YAML world: accounts, projects, environments, jobs, runs, webhooks, faults (instead of --artifacts)")
	fs.StringVar(&cfg.ArtifactsDir, "artifacts", "", "folder with manifest.json, run_results.json, catalog.json, sources.json (required without --config)")
	fs.Int64Var(&cfg.AccountID, "account", 1, "account ID")
	fs.Int64Var(&cfg.ProjectID, "project", 100, "project ID")
	fs.Int64Var(&cfg.EnvironmentID, "environment", 200, "environment ID")
	fs.Int64Var(&cfg.JobID, "job", 300, "job ID")
	fs.Int64Var(&cfg.RunID, "run", 400, "run ID")
	fs.IntVar(&cfg.ExtraRuns, "extra-runs", 0, "older successful runs of the job to list")
	fs.IntVar(&cfg.RunStatus, "run-status", 10, "run status: 10 success, 20 error, 30 cancelled")
	fs.StringVar(&cfg.WebhookURL, "webhook-url", "", "POST signed job.run.* webhooks for the run to this URL")
	secret := fs.String("webhook-secret", "", "webhook signing secret (default $DBT_CLOUD_WEBHOOK_SECRET)")
	fs.DurationVar(&cfg.Latency, "latency", 0, "fault: delay every API answer")
	fs.IntVar(&cfg.Fail5xx, "fail-5xx", 0, "fault: the first N artifact downloads answer 503")
	fs.IntVar(&cfg.RateLimit, "rate-limit", 0, "fault: the first N API requests answer 429")
	fs.IntVar(&cfg.RetryAfter, "retry-after", 0, "fault: Retry-After seconds on those 429s (0 = no header)")
	fs.IntVar(&cfg.TruncateArtifacts, "truncate-artifacts", 0, "fault: the first N artifact downloads are cut short")
	fs.Float64Var(&cfg.Fail5xxRate, "fail-5xx-rate", 0, "fault: this fraction (0..1) of API requests answer 503")
	fs.IntVar(&cfg.SlowBodyBPS, "slow-body-bps", 0, "fault: artifact bodies at this many bytes a second")
	fs.DurationVar(&cfg.ArtifactDelay, "artifact-delay", 0, "fault: artifacts answer 404 until this long after the run completed")
	fs.BoolVar(&cfg.IgnoreStep, "ignore-step", false, "fault: the artifact endpoints ignore ?step= and serve the last step's files")
	fs.BoolVar(&cfg.RetiredHost, "retired-host", false, "fault: requests for Host cloud.getdbt.com, emea.dbt.com or au.dbt.com answer 401")
	fs.IntVar(&cfg.DeactivateAfter, "deactivate-after", 5, "consecutive failed deliveries that deactivate a webhook subscription")
	verbose := fs.Bool("v", false, "log every fault and delivery attempt")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("devcloud: unexpected argument %q", fs.Arg(0))
	}
	cfg.Token = cmp.Or(*token, getenv("DBT_CLOUD_API_TOKEN"))
	cfg.WebhookSecret = cmp.Or(*secret, getenv("DBT_CLOUD_WEBHOOK_SECRET"))
	if *config != "" {
		f, err := devcloud.LoadFile(*config)
		if err != nil {
			return err
		}
		if err := f.Apply(&cfg); err != nil {
			return err
		}
	}
	switch {
	case cfg.ArtifactsDir == "" && *config == "":
		fs.Usage()
		return errors.New("devcloud: --artifacts or --config is required")
	case cfg.Token == "":
		return errors.New("devcloud: --token or DBT_CLOUD_API_TOKEN is required")
	case cfg.WebhookURL != "" && cfg.WebhookSecret == "":
		return errors.New("devcloud: --webhook-url needs --webhook-secret or DBT_CLOUD_WEBHOOK_SECRET")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return devcloud.Run(ctx, cfg, *listen, func(baseURL string) {
		fmt.Fprintln(stdout, baseURL)
	})
}
