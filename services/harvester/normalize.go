package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
)

// runNormalize is `harvester normalize PATH...`: it normalizes local dbt
// artifacts, with no NATS and no dbt Cloud, and writes one events.Asset per
// line (NDJSON, the data of the asset events) to stdout and the summary to
// stderr. PATH is a target/ folder, or artifact files recognised by name or
// by their dbt_schema_version.
func runNormalize(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("normalize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: harvester normalize [flags] PATH...\n\nPATH is a dbt target/ folder or artifact files.\n\nflags:")
		fs.PrintDefaults()
	}
	includeCode := fs.Bool("include-code", getenv("HARVESTER_INCLUDE_CODE") == "1", "keep raw and compiled code (also HARVESTER_INCLUDE_CODE=1)")
	var ref events.RunRef
	fs.Int64Var(&ref.AccountID, "account", 0, "dbt Cloud account ID of the run context")
	fs.Int64Var(&ref.ProjectID, "project", 0, "dbt Cloud project ID")
	fs.Int64Var(&ref.EnvironmentID, "environment", 0, "dbt Cloud environment ID")
	fs.Int64Var(&ref.JobID, "job", 0, "dbt Cloud job ID")
	fs.Int64Var(&ref.RunID, "run", 0, "dbt Cloud run ID")
	format := fs.String("format", "assets", "assets (one asset per line) or openlineage (one OpenLineage RunEvent per line)")
	olFlags := addOpenLineageFlags(fs, getenv)
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		fs.Usage()
		return errors.New("normalize: no PATH given")
	}
	in, closeAll, err := normalize.OpenPaths(paths)
	if err != nil {
		return err
	}
	defer closeAll()
	switch *format {
	case "assets":
		return normalizeInput(ctx, in, normalize.Options{Ref: ref, IncludeCode: *includeCode}, stdout, stderr)
	case "openlineage":
		return normalizeOpenLineage(ctx, in, ref, olFlags, stdout, stderr)
	}
	return fmt.Errorf("normalize: --format %q: want assets or openlineage", *format)
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// normalizeInput writes the assets of in as NDJSON to stdout and the summary
// to stderr.
func normalizeInput(ctx context.Context, in normalize.Input, opts normalize.Options, stdout, stderr io.Writer) error {
	out := bufio.NewWriterSize(stdout, 256<<10)
	sum, err := normalize.JSON(ctx, in, opts, func(a normalize.Encoded) error {
		if _, err := out.Write(a.JSON); err != nil {
			return err
		}
		return out.WriteByte('\n')
	})
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("normalize: write: %w", ferr)
	}
	if err != nil {
		return err
	}
	if in.Catalog == nil {
		sum.Warnings = append(sum.Warnings, "catalog.json absent: column types come from the YAML only, no table stats")
	}
	printSummary(stderr, sum)
	return nil
}

func printSummary(w io.Writer, sum normalize.Summary) {
	fmt.Fprintf(w, "normalized %d assets:", sum.Assets)
	for _, k := range slices.Sorted(maps.Keys(sum.Counts)) {
		fmt.Fprintf(w, " %s=%d", k, sum.Counts[k])
	}
	fmt.Fprintln(w)
	if p := sum.Project; p != nil {
		fmt.Fprintf(w, "project: %s (dbt %s, %s, project_id %s)\n", p.Name, p.DBTVersion, p.AdapterType, p.ProjectIDHash)
	}
	for _, g := range sum.Groups {
		fmt.Fprintf(w, "group %s: owner %s %s\n", g.Name, g.OwnerName, g.OwnerEmail)
	}
	if len(sum.ResultStatuses) > 0 {
		fmt.Fprint(w, "results:")
		for _, k := range slices.Sorted(maps.Keys(sum.ResultStatuses)) {
			fmt.Fprintf(w, " %s=%d", k, sum.ResultStatuses[k])
		}
		t := sum.Tests
		fmt.Fprintf(w, "\ntests: pass=%d warn=%d fail=%d error=%d skipped=%d other=%d\n", t.Pass, t.Warn, t.Fail, t.Error, t.Skipped, t.Other)
	}
	for _, k := range slices.Sorted(maps.Keys(sum.ArtifactVersions)) {
		fmt.Fprintf(w, "%s: %s\n", k, sum.ArtifactVersions[k])
	}
	for _, warn := range sum.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
}
