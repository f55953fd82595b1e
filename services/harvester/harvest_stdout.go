package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
)

// harvestToStdout downloads the run's artifacts into a temporary folder and
// normalizes them as `harvester normalize` does.
func harvestToStdout(ctx context.Context, f *fetcher.Fetcher, req fetcher.Request, includeCode bool, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "harvester-harvest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sink := fetcher.DirSink{Dir: dir}
	out, err := f.Download(ctx, req, sink)
	if err != nil {
		return fmt.Errorf("harvest run %d: %w", req.Ref.RunID, err)
	}
	printFetched(stderr, out)
	in, closeAll, err := normalize.Open(out.Artifacts, func(key string) (io.ReadCloser, error) { return os.Open(sink.Path(key)) })
	if err != nil {
		return err
	}
	defer closeAll()
	return normalizeInput(ctx, in, normalize.Options{Ref: out.Run.RunRef, IncludeCode: includeCode}, stdout, stderr)
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
