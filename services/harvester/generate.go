package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/dbt-harvester/harvester/services/internal/gen"
)

// runGenerate writes a generated dbt project's artifacts into --out and
// prints what it wrote.
func runGenerate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := gen.DefaultOptions(20)
	fs.IntVar(&opts.Models, "models", 20, "number of models (10 to 50,000 is realistic)")
	fs.Int64Var(&opts.Seed, "seed", 1, "random seed; the same flags give byte-identical files")
	out := fs.String("out", "", "directory to write the artifacts into (required)")
	fs.StringVar(&opts.Adapter, "adapter", "postgres", "adapter: postgres, redshift, snowflake, bigquery, duckdb or databricks")
	fs.StringVar(&opts.ProjectName, "project", "jaffle_demo", "dbt project name")
	fs.IntVar(&opts.FailingTests, "failing-tests", 0, "how many tests fail in run_results.json")
	noCatalog := fs.Bool("no-catalog", false, "do not write catalog.json")
	noRunResults := fs.Bool("no-run-results", false, "do not write run_results.json")
	noSources := fs.Bool("no-sources", false, "do not write sources.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("generate: --out is required")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	opts.Catalog, opts.RunResults, opts.Sources = !*noCatalog, !*noRunResults, !*noSources
	sum, err := gen.Write(*out, opts)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	printGenerated(stdout, *out, sum)
	return nil
}

func printGenerated(w io.Writer, dir string, sum gen.Summary) {
	fmt.Fprintf(w, "wrote %s\n\nassets:\n", dir)
	for _, k := range genSortedKeys(sum.Counts) {
		fmt.Fprintf(w, "  %-15s %8d\n", k, sum.Counts[k])
	}
	fmt.Fprintln(w, "\nfiles:")
	for _, k := range genSortedKeys(sum.Files) {
		fmt.Fprintf(w, "  %-17s %12d bytes (%s)\n", k, sum.Files[k], genHumanBytes(sum.Files[k]))
	}
}

func genSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func genHumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
