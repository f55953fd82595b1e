package fetcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// collect downloads the planned artifacts of a complete run into sink and
// says what was stored, what is absent and why, and what looks wrong.
func (f *Fetcher) collect(ctx context.Context, client *dbtcloud.Client, sink Sink, run dbtcloud.Run, req Request) (events.ArtifactsFetched, error) {
	facts := Facts(run, req.WebhookEventID)
	facts.ProjectName, facts.EnvironmentName = req.ProjectName, req.EnvironmentName
	facts.ReceivedAt = timePtr(req.ReceivedAt)
	if facts.JobName == "" {
		facts.JobName = req.JobName
	}
	out := events.ArtifactsFetched{
		Run: facts, Generation: max(req.Generation, 1),
		Artifacts: []events.StoredArtifact{}, Absent: []events.AbsentArtifact{}, Warnings: []string{},
	}
	var results []checked
	wants := Plan(run)
	got := f.storeAll(ctx, client, sink, run, wants)
	for i, want := range wants {
		if want.AbsentReason != "" {
			out.Absent = append(out.Absent, events.AbsentArtifact{Name: want.Name, Step: want.Step, Reason: want.AbsentReason})
			continue
		}
		stored, info, err := got[i].stored, got[i].info, got[i].err
		switch {
		case err == nil:
			if stored.Command == "" && info.Which != "" {
				stored.Command = info.Which
			}
			out.Artifacts = append(out.Artifacts, stored)
			if want.Name == events.RunResultsJSON {
				results = append(results, checked{stored, info, want})
			}
		case errors.Is(err, dbtcloud.ErrNotFound):
			if wait := f.notYet(run, want, err); wait != nil {
				return out, wait
			}
			if !want.Optional {
				return out, retry.Permanent(missingManifest(run, want, err))
			}
			out.Absent = append(out.Absent, events.AbsentArtifact{Name: want.Name, Step: want.Step, Reason: absentReason(run, want)})
		default:
			return out, err
		}
	}
	out.Warnings = append(out.Warnings, checkResults(results)...)
	out.FetchedAt = f.now().UTC()
	return out, nil
}

// Downloads is how many of a run's artifacts the fetcher downloads at once.
const Downloads = 3

// download is what storing one wanted artifact gave.
type download struct {
	stored events.StoredArtifact
	info   inspection
	err    error
}

// storeAll stores the wanted artifacts that are not known absent, Downloads
// at a time (the manifest first, as Plan lists it): with dbt Cloud a
// download is mostly waiting on the network, and a large project's catalog
// need not wait for its manifest. The results are in wants' order.
func (f *Fetcher) storeAll(ctx context.Context, client *dbtcloud.Client, sink Sink, run dbtcloud.Run, wants []Want) []download {
	out := make([]download, len(wants))
	slots := make(chan struct{}, Downloads)
	var wg sync.WaitGroup
	for i, want := range wants {
		if want.AbsentReason != "" {
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			s, info, err := f.storeWant(ctx, client, sink, run, want)
			out[i] = download{s, info, err}
		})
	}
	wg.Wait()
	return out
}

// storeWant stores want from its step, or from its fallback steps in turn
// while the file is not found.
func (f *Fetcher) storeWant(ctx context.Context, client *dbtcloud.Client, sink Sink, run dbtcloud.Run, want Want) (events.StoredArtifact, inspection, error) {
	stored, info, err := f.storeChecked(ctx, client, sink, run, want, want.Step)
	for _, s := range want.Fallback {
		if !errors.Is(err, dbtcloud.ErrNotFound) {
			break
		}
		w := want
		w.StepName, w.Command = s.Name, StepCommand(s.Name)
		stored, info, err = f.storeChecked(ctx, client, sink, run, w, s.Index)
	}
	return stored, info, err
}

// storeChecked stores want from step, downloading it again while the
// download fails the check ([ErrCorrupt]), after CorruptRetryDelay and then
// twice that; the CorruptAttempts-th failed check is permanent.
func (f *Fetcher) storeChecked(ctx context.Context, client *dbtcloud.Client, sink Sink, run dbtcloud.Run, want Want, step int) (events.StoredArtifact, inspection, error) {
	delay := cmp.Or(f.CorruptRetryDelay, time.Second)
	for attempt := 1; ; attempt++ {
		stored, info, err := f.store(ctx, client, sink, run, want, step)
		if !errors.Is(err, ErrCorrupt) {
			return stored, info, err
		}
		if attempt == CorruptAttempts {
			return stored, info, retry.Permanent(fmt.Errorf("%w (%d downloads in a row failed the check)", err, attempt))
		}
		f.log().Warn("download failed the check; downloading it again", "run", run.ID, "artifact", want.Name, "step", step,
			"attempt", attempt, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return stored, info, fmt.Errorf("%w (interrupted before download %d: %w)", err, attempt+1, ctx.Err())
		case <-t.C:
		}
		delay *= 2
	}
}

// ErrNotYet is wrapped by the error of an artifact that is not there yet
// (the run is not complete, or dbt Cloud has not saved its artifacts).
var ErrNotYet = errors.New("not there yet")

// notYet decides what a 404 on a complete run's artifact means: "not there
// yet" (a retry.After) while the run says artifacts_saved false, and for the
// manifest (which every command step writes) shortly after the run finished
// (the completed webhook may beat the upload); else nil: absent.
func (f *Fetcher) notYet(run dbtcloud.Run, want Want, err error) error {
	recent := !run.FinishedAt.IsZero() && f.now().Sub(run.FinishedAt) < f.artifactsGrace()
	err = fmt.Errorf("%w: %w", ErrNotYet, err)
	switch {
	case !run.IsComplete:
		return retry.After(f.notReadyDelay(), fmt.Errorf("%s of run %d (the run is not complete): %w", want.Name, run.ID, err))
	case recent && !run.ArtifactsSaved:
		return retry.After(f.notReadyDelay(), fmt.Errorf("%s of run %d (dbt Cloud has not saved the run's artifacts): %w", want.Name, run.ID, err))
	case recent && !want.Optional:
		return retry.After(f.notReadyDelay(), fmt.Errorf("%s of run %d (%s after the run finished): %w",
			want.Name, run.ID, f.now().Sub(run.FinishedAt).Round(time.Second), err))
	}
	return nil
}

func missingManifest(run dbtcloud.Run, want Want, err error) error {
	if !run.ArtifactsSaved {
		return fmt.Errorf("run %d has no manifest.json: dbt Cloud saved no artifacts for it (artifacts_saved is false): %w", run.ID, err)
	}
	return fmt.Errorf("run %d has no manifest.json (step %d%s): dbt did not parse the project, so there is nothing to harvest: %w",
		run.ID, want.Step, stepLabel(want), err)
}

func absentReason(run dbtcloud.Run, want Want) string {
	r := fmt.Sprintf("%s not found in step %d%s of run %d", want.Name, want.Step, stepLabel(want), run.ID)
	switch want.Name {
	case events.CatalogJSON:
		r += ", although the run generated docs; column types come from the YAML only"
	case events.SourcesJSON:
		r += ", although the run ran source freshness; sources carry no freshness"
	case events.SemanticManifestJSON:
		r += " (dbt writes it from 1.6 on)"
	case events.RunResultsJSON:
		r += "; its nodes carry no result from that step"
	}
	return r
}

func stepLabel(w Want) string {
	if w.StepName == "" {
		return ""
	}
	return " (" + w.StepName + ")"
}

// checked is a stored run_results.json with what its check read.
type checked struct {
	stored events.StoredArtifact
	info   inspection
	want   Want
}

// checkResults compares each command step's run_results.json with its
// step: its args.which should be the step's command, and each step is its
// own invocation. When dbt Cloud ignores the step parameter it serves the
// last step's file for every step, which fails both.
func checkResults(results []checked) []string {
	var warnings []string
	for _, r := range results {
		want := expectedWhich(r.want.Command)
		if want != "" && r.info.Which != "" && r.info.Which != want {
			warnings = append(warnings, fmt.Sprintf("run_results.json of step %d (%s) is from `dbt %s`, not `dbt %s` (args.which %q): "+
				"dbt Cloud seems to have ignored the step parameter; harvested what it served, so results may be another step's (the docs-generate step's are near-empty)",
				r.stored.Step, r.want.StepName, r.info.Which, r.want.Command, r.info.Which))
		}
	}
	if len(results) < 2 {
		return warnings
	}
	id := results[0].info.InvocationID
	if id == "" || slices.ContainsFunc(results, func(r checked) bool { return r.info.InvocationID != id }) {
		return warnings
	}
	steps := make([]string, len(results))
	for i, r := range results {
		steps[i] = strconv.Itoa(r.stored.Step)
	}
	return append(warnings, fmt.Sprintf("run_results.json of steps %s are one invocation (%s): dbt Cloud ignored the step parameter "+
		"and served the same file for every step; harvested what it served, so the results of the other command steps are missing",
		strings.Join(steps, ", "), id))
}
