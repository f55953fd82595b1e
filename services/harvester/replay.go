package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/replay"
)

// runReplay is `harvester replay`: it re-harvests completed run events
// already in DBT_RUNS by republishing each as a new harvest generation.
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "replay --since T | --from-seq N [--until T | --to-seq N] [--subject FILTER]", stderr)
	withConfig := configFlag(fs, getenv)
	since, until := &timeFlag{now: time.Now}, &timeFlag{now: time.Now}
	fs.Var(since, "since", "replay run events stored since this time (2006-01-02, RFC 3339, or 72h / 30d ago)")
	fs.Var(until, "until", "… and up to this time (default: now)")
	fromSeq := fs.Uint64("from-seq", 0, "replay from this DBT_RUNS stream sequence")
	toSeq := fs.Uint64("to-seq", 0, "… up to this sequence (default: the last one)")
	subject := fs.String("subject", events.RunCompletedSubjects, "subject filter under dbt.run.> (e.g. dbt.run.1.*.*.300.completed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	getenv = withConfig()
	r := replay.Range{Since: since.t, Until: until.t, FromSeq: *fromSeq, ToSeq: *toSeq, Subject: *subject}
	if err := r.Validate(); err != nil {
		fs.Usage()
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	js, closeNATS, err := connectNATS(ctx, cfg, "harvester-replay")
	if err != nil {
		return err
	}
	defer closeNATS()
	l, err := ledger.Open(ctx, js)
	if err != nil {
		return err
	}
	n, err := replay.Replay(ctx, js, l, r)
	fmt.Fprintf(stdout, "replayed %d completed run event(s), each as its run's next harvest generation\n", n)
	return err
}
