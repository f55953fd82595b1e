package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetch"
	"github.com/dbt-harvester/harvester/services/internal/harvest"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
)

const harvestUsage = "harvest --job J | --run R | --environment E [--account A] [--stdout] [--include-code] [--config FILE] [--nats-url URL]"

// maxCandidates bounds how many recent successful runs harvest looks at for
// one with artifacts (one page of the Admin API).
const maxCandidates = 100

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
	clients, err := fetch.NewClients([]config.Account{acct})
	if err != nil {
		return err
	}
	run, err := sel.find(ctx, clients[acct.ID])
	if err != nil {
		return err
	}
	ref := fetch.Facts(run, "").RunRef
	fmt.Fprintf(stderr, "harvesting run %d of job %d (account %d, project %d, environment %d)\n",
		ref.RunID, ref.JobID, ref.AccountID, ref.ProjectID, ref.EnvironmentID)
	f := &fetch.Fetcher{Clients: clients, Log: cfg.NewLogger(stderr), Tracing: cfg.Tracing}
	req := fetch.Request{Ref: ref, Generation: 1}
	if *toStdout {
		return harvestToStdout(ctx, f, req, *includeCode, stdout, stderr)
	}
	js, closeNATS, err := connectNATS(ctx, cfg, "harvester-harvest")
	if err != nil {
		return err
	}
	defer closeNATS()
	if f.Store, err = js.ObjectStore(ctx, events.BucketArtifacts); err != nil {
		return fmt.Errorf("object store %s (is `harvester serve` running?): %w", events.BucketArtifacts, err)
	}
	if f.Records, err = js.KeyValue(ctx, events.BucketHarvests); err != nil {
		return fmt.Errorf("kv %s: %w", events.BucketHarvests, err)
	}
	f.JS = js
	rec, ok, err := harvest.Lookup(ctx, f.Records, ref.AccountID, ref.RunID)
	if err != nil {
		return err
	}
	req.Generation = harvest.NextGeneration(rec, ok)
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
	filter := dbtcloud.RunFilter{JobID: s.job, EnvironmentID: s.environment, Status: dbtcloud.StatusSuccess, OrderBy: "-id", Limit: maxCandidates}
	runs, err := c.ListRuns(ctx, filter)
	if err != nil {
		return dbtcloud.Run{}, err
	}
	deploy := func(dbtcloud.Run) bool { return true }
	if s.environment > 0 {
		if deploy, err = deployJobs(ctx, c, s.environment); err != nil {
			return dbtcloud.Run{}, err
		}
	}
	for _, r := range runs {
		if !deploy(r) {
			continue
		}
		ok, err := hasArtifacts(ctx, c, r)
		if err != nil {
			return dbtcloud.Run{}, err
		}
		if ok {
			return c.GetRun(ctx, r.ID)
		}
	}
	what := fmt.Sprintf("job %d", s.job)
	if s.environment > 0 {
		what = fmt.Sprintf("any deploy job of environment %d", s.environment)
	}
	return dbtcloud.Run{}, fmt.Errorf("harvest: no successful run of %s with artifacts among the latest %d successful runs", what, len(runs))
}

// deployJobs returns whether a run's job is a deploy job of the environment
// (not a CI job, and not triggered as CI).
func deployJobs(ctx context.Context, c *dbtcloud.Client, env int64) (func(dbtcloud.Run) bool, error) {
	jobs, err := c.ListJobs(ctx, dbtcloud.JobFilter{EnvironmentID: env})
	if err != nil {
		return nil, err
	}
	ok := map[int64]bool{}
	for _, j := range jobs {
		ok[j.ID] = !j.IsCI()
	}
	return func(r dbtcloud.Run) bool {
		if r.Trigger != nil && strings.EqualFold(r.Trigger.CauseCategory, "ci") {
			return false
		}
		return ok[r.JobDefinitionID]
	}, nil
}

// hasArtifacts reports whether dbt Cloud kept the run's artifacts.
func hasArtifacts(ctx context.Context, c *dbtcloud.Client, r dbtcloud.Run) (bool, error) {
	if !r.ArtifactsSaved {
		return false, nil
	}
	paths, err := c.ListArtifacts(ctx, r.ID, 0)
	if errors.Is(err, dbtcloud.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(paths, events.ManifestJSON), nil
}

// harvestToStdout downloads the run's artifacts into a temporary folder and
// normalizes them as `harvester normalize` does.
func harvestToStdout(ctx context.Context, f *fetch.Fetcher, req fetch.Request, includeCode bool, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "harvester-harvest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sink := fetch.DirSink{Dir: dir}
	out, err := f.Download(ctx, req, sink)
	if err != nil {
		return fmt.Errorf("harvest run %d: %w", req.Ref.RunID, err)
	}
	printFetched(stderr, out)
	in, closeAll, err := openFetched(out, sink)
	if err != nil {
		return err
	}
	defer closeAll()
	return normalizeInput(ctx, in, normalize.Options{Ref: out.Run.RunRef, IncludeCode: includeCode}, stdout, stderr)
}

// openFetched opens the downloaded artifacts as the normalizer's input:
// run results in step order, the manifest of the last command step.
func openFetched(out events.ArtifactsFetched, sink fetch.DirSink) (normalize.Input, func(), error) {
	var in normalize.Input
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	arts := slices.Clone(out.Artifacts)
	slices.SortStableFunc(arts, func(a, b events.StoredArtifact) int { return a.Step - b.Step })
	for _, a := range arts {
		fh, err := os.Open(sink.Path(a.Key))
		if err != nil {
			closeAll()
			return in, nil, err
		}
		files = append(files, fh)
		switch a.Name {
		case events.ManifestJSON:
			in.Manifest = fh
		case events.RunResultsJSON:
			if in.RunResults == nil {
				in.RunResults = fh
			} else {
				in.MoreRunResults = append(in.MoreRunResults, fh)
			}
		case events.CatalogJSON:
			in.Catalog = fh
		case events.SourcesJSON:
			in.Sources = fh
		case events.SemanticManifestJSON:
			in.SemanticManifest = fh
		}
	}
	return in, closeAll, nil
}

// printFetched is the artifacts-fetched summary.
func printFetched(w io.Writer, out events.ArtifactsFetched) {
	r := out.Run
	fmt.Fprintf(w, "run %d (job %d %q, %s) generation %d: %d artifacts stored, %d absent\n",
		r.RunID, r.JobID, r.JobName, r.Status, out.Generation, len(out.Artifacts), len(out.Absent))
	for _, a := range out.Artifacts {
		fmt.Fprintf(w, "  stored  %-22s step %-2d %-16s %10d bytes  %s\n", a.Name, a.Step, a.Command, a.Size, a.Key)
	}
	for _, a := range out.Absent {
		fmt.Fprintf(w, "  absent  %-22s %s\n", a.Name, a.Reason)
	}
	for _, warn := range out.Warnings {
		fmt.Fprintln(w, "  warning:", warn)
	}
}
