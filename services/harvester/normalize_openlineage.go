package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
	"github.com/dbt-harvester/harvester/services/internal/openlineage"
)

// openLineageFlags are the naming flags of `harvester normalize --format openlineage`.
type openLineageFlags struct {
	namespace, datasetNamespace, datasetNamespaces *string
}

func addOpenLineageFlags(fs *flag.FlagSet, getenv func(string) string) openLineageFlags {
	return openLineageFlags{
		namespace: fs.String("namespace", getenv("HARVESTER_OPENLINEAGE_NAMESPACE"),
			"--format openlineage: the job namespace (env HARVESTER_OPENLINEAGE_NAMESPACE; default "+openlineage.DefaultNamespace+")"),
		datasetNamespace: fs.String("dataset-namespace", getenv("HARVESTER_OPENLINEAGE_DATASET_NAMESPACE"),
			"--format openlineage: the warehouse's dataset namespace, e.g. postgres://db.example.com:5432 (env HARVESTER_OPENLINEAGE_DATASET_NAMESPACE)"),
		datasetNamespaces: fs.String("dataset-namespaces", getenv("HARVESTER_OPENLINEAGE_DATASET_NAMESPACES"),
			"--format openlineage: ENVIRONMENT_ID=NAMESPACE,... for --environment (env HARVESTER_OPENLINEAGE_DATASET_NAMESPACES)"),
	}
}

// normalizeOpenLineage writes the OpenLineage RunEvents of local artifacts as
// NDJSON on stdout (one per line, in publish order) and the summary on
// stderr. The run is the dbt Cloud run the flags name, or, with no --run, the
// dbt Core invocation of the artifacts.
func normalizeOpenLineage(ctx context.Context, in normalize.Input, ref events.RunRef, f openLineageFlags, stdout, stderr io.Writer) error {
	opts := openlineage.Options{Namespace: *f.namespace, DatasetNamespace: *f.datasetNamespace}
	if *f.datasetNamespaces != "" {
		m, err := config.ParseDatasetNamespaces(*f.datasetNamespaces)
		if err != nil {
			return fmt.Errorf("normalize: --dataset-namespaces: %w", err)
		}
		opts.DatasetNamespaces = m
	}
	evs, sum, warnings, err := openlineage.FromArtifacts(ctx, in, openlineage.Harvest{Run: events.RunFacts{RunRef: ref}, Generation: 1}, opts)
	if err != nil {
		return err
	}
	notes, err := openlineage.WriteNDJSON(stdout, evs)
	if err != nil {
		return err
	}
	if in.Catalog == nil {
		warnings = append(warnings, "catalog.json absent: dataset schemas have the YAML's columns and types only")
	}
	sum.Warnings = append(append(sum.Warnings, warnings...), notes...)
	fmt.Fprintf(stderr, "%d OpenLineage run events\n", len(evs))
	printSummary(stderr, sum)
	return nil
}
