package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/backfill"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
)

// runBackfill is `harvester backfill`: it harvests a job's completed runs of
// a time range into the pipeline, oldest first, skipping those DBT_HARVESTS
// records as harvested, so that an interrupted backfill resumes.
func runBackfill(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backfill", "backfill --job J --since DATE [--until DATE] [--limit N] [--account A]", stderr)
	withConfig := configFlag(fs, getenv)
	job := fs.Int64("job", 0, "the dbt Cloud job whose runs to harvest")
	since, until := &timeFlag{now: time.Now}, &timeFlag{now: time.Now}
	fs.Var(since, "since", "runs finished since (2006-01-02, RFC 3339, or 72h / 30d ago)")
	fs.Var(until, "until", "… and until (default: now)")
	limit := fs.Int("limit", 0, "harvest at most N runs this time (0: all); already harvested runs do not count")
	account := fs.Int64("account", 0, "dbt Cloud account ID (default: the only configured one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	getenv = withConfig()
	if *job <= 0 || since.t.IsZero() {
		fs.Usage()
		return errors.New("backfill: --job and --since are required")
	}
	cfg, c, err := accountClient(getenv, *account)
	if err != nil {
		return err
	}
	js, closeNATS, err := connectNATS(ctx, cfg, "harvester-backfill")
	if err != nil {
		return err
	}
	defer closeNATS()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: max(cfg.LogLevel, slog.LevelWarn)}))
	f, err := pipelineFetcher(ctx, js, c, cfg.Tracing, log)
	if err != nil {
		return err
	}
	p := newProgress(stdout)
	b := &backfill.Backfill{Fetcher: f, Report: p}
	runs, err := b.List(ctx, c, dbtcloud.RunFilter{JobID: *job, FinishedAfter: since.t, FinishedBefore: until.t, OrderBy: "finished_at"})
	if err != nil {
		return err
	}
	counts, err := b.Run(ctx, runs, *limit)
	if ctx.Err() == nil {
		p.printf("backfill: %d completed run(s) in range; harvested %d, already harvested %d, failed %d\n",
			len(runs), counts[fetcher.Fetched], counts[fetcher.Skipped], counts[fetcher.Failed])
	}
	return err
}
