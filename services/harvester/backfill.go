package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetch"
	"github.com/dbt-harvester/harvester/services/internal/reconcile"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// backfillAttempts bounds the tries of one run that fails transiently (5xx,
// timeouts); rate limits are waited out however often they come.
const backfillAttempts = 5

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
	h, err := newHarvester(ctx, js, c, cfg.Tracing, log)
	if err != nil {
		return err
	}
	p := newProgress(stdout)
	f := dbtcloud.RunFilter{JobID: *job, FinishedAfter: since.t, FinishedBefore: until.t, OrderBy: "finished_at"}
	runs, err := listCompleted(ctx, c, f, p)
	if err != nil {
		return err
	}
	return backfill(ctx, h, runs, *limit, p)
}

// newHarvester is a fetcher for one account, writing into the running
// pipeline's object store and streams; with tracing, each run starts a trace.
func newHarvester(ctx context.Context, js jetstream.JetStream, c *dbtcloud.Client, tracing bool, log *slog.Logger) (*reconcile.Harvester, error) {
	const hint = " (is `harvester serve` running against this NATS? `harvester doctor` checks it)"
	store, err := js.ObjectStore(ctx, events.BucketArtifacts)
	if err != nil {
		return nil, fmt.Errorf("backfill: object store %s: %w%s", events.BucketArtifacts, err, hint)
	}
	records, err := js.KeyValue(ctx, events.BucketHarvests)
	if err != nil {
		return nil, fmt.Errorf("backfill: kv %s: %w%s", events.BucketHarvests, err, hint)
	}
	f := &fetch.Fetcher{JS: js, Store: store, Records: records, Clients: map[int64]*dbtcloud.Client{c.AccountID(): c}, Log: log, Tracing: tracing}
	return &reconcile.Harvester{Fetcher: f, JS: js, Records: records, RetryFailed: true}, nil
}

// listCompleted lists the runs of f (100 a page), waiting out rate limits,
// and keeps the completed ones, oldest first.
func listCompleted(ctx context.Context, c *dbtcloud.Client, f dbtcloud.RunFilter, p *progress) ([]dbtcloud.Run, error) {
	var runs []dbtcloud.Run
	err := patiently(ctx, p, "list runs", func() error {
		var err error
		runs, err = c.ListRuns(ctx, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("backfill: %w", err)
	}
	runs = slices.DeleteFunc(runs, func(r dbtcloud.Run) bool { return !reconcile.Harvestable(r) })
	slices.SortStableFunc(runs, func(a, b dbtcloud.Run) int { return a.FinishedAt.Compare(b.FinishedAt) })
	for i := range runs {
		if runs[i].AccountID == 0 {
			runs[i].AccountID = c.AccountID()
		}
	}
	return runs, nil
}

// backfill harvests runs in order, at most limit of them (0: all).
func backfill(ctx context.Context, h *reconcile.Harvester, runs []dbtcloud.Run, limit int, p *progress) error {
	p.start(len(runs))
	counts := map[reconcile.Outcome]int{}
	for i, run := range runs {
		if limit > 0 && counts[reconcile.Fetched]+counts[reconcile.Failed] >= limit {
			p.note(fmt.Sprintf("stopping after %d runs (--limit); run again to go on", limit))
			break
		}
		var out reconcile.Outcome
		err := patiently(ctx, p, fmt.Sprintf("run %d", run.ID), func() error {
			var err error
			out, err = h.Harvest(ctx, run)
			if out == reconcile.Failed {
				return retry.Permanent(err) // closed with harvest.failed: do not try again
			}
			return err
		})
		if ctx.Err() != nil {
			p.finish()
			return fmt.Errorf("backfill interrupted after %d of %d runs (run it again to resume): %w", i, len(runs), ctx.Err())
		}
		if err != nil {
			out = reconcile.Failed
		}
		counts[out]++
		p.step(i+1, run, out, err)
	}
	p.finish()
	p.printf("backfill: %d completed run(s) in range; harvested %d, already harvested %d, failed %d\n",
		len(runs), counts[reconcile.Fetched], counts[reconcile.Skipped], counts[reconcile.Failed])
	if n := counts[reconcile.Failed]; n > 0 {
		return fmt.Errorf("backfill: %d run(s) failed (see above; failed runs are tried again on the next backfill)", n)
	}
	return nil
}

// patiently runs try until it succeeds, fails permanently, or fails
// transiently backfillAttempts times; a rate limit is waited out and
// does not count as an attempt.
func patiently(ctx context.Context, p *progress, what string, try func() error) error {
	for attempt := 1; ; {
		err := try()
		if err == nil || retry.IsPermanent(err) || ctx.Err() != nil {
			return err
		}
		d, limited := retry.Delay(err)
		if limited {
			p.note(fmt.Sprintf("%s: rate limited by dbt Cloud; waiting %s", what, d.Round(time.Second)))
		} else {
			if attempt >= backfillAttempts {
				return err
			}
			d = retry.Backoff(uint64(attempt), 2*time.Second, time.Minute)
			attempt++
			p.note(fmt.Sprintf("%s: %v; trying again in %s", what, err, d.Round(time.Millisecond)))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// progress shows the backfill: a bar redrawn in place on a terminal, one
// line per run otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	begun time.Time
	line  string // the bar as last drawn
}

func newProgress(w io.Writer) *progress { return &progress{w: w, tty: isTerminal(w)} }

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) printf(format string, a ...any) { fmt.Fprintf(p.w, format, a...) }

func (p *progress) start(total int) {
	p.total, p.begun = total, time.Now()
	p.printf("backfill: %d completed run(s) to harvest, oldest first\n", total)
	if p.tty {
		p.draw(0, "")
	}
}

// step reports run done (the i-th of total).
func (p *progress) step(i int, run dbtcloud.Run, out reconcile.Outcome, err error) {
	what := fmt.Sprintf("run %d (finished %s): %s", run.ID, run.FinishedAt.UTC().Format("2006-01-02 15:04"), out)
	if err != nil {
		what += ": " + err.Error()
	}
	if !p.tty {
		p.printf("backfill %d/%d %s\n", i, p.total, what)
		return
	}
	if err != nil {
		p.note(what)
	}
	p.draw(i, fmt.Sprintf("run %d %s", run.ID, out))
}

// note prints a message above the bar (or as a line).
func (p *progress) note(msg string) {
	if !p.tty {
		p.printf("backfill: %s\n", msg)
		return
	}
	p.printf("\r\x1b[K%s\n%s", msg, p.line)
}

// draw redraws the bar: [#####-----] i/total last ETA.
func (p *progress) draw(i int, last string) {
	const width = 30
	filled := width
	if p.total > 0 {
		filled = width * i / p.total
	}
	eta := ""
	if i > 0 && i < p.total {
		left := time.Since(p.begun) / time.Duration(i) * time.Duration(p.total-i)
		eta = " ETA " + left.Round(time.Second).String()
	}
	p.line = fmt.Sprintf("[%s%s] %d/%d %s%s", strings.Repeat("#", filled), strings.Repeat("-", width-filled), i, p.total, last, eta)
	p.printf("\r\x1b[K%s", p.line)
}

func (p *progress) finish() {
	if p.tty && p.line != "" {
		p.printf("\n")
		p.line = ""
	}
}
