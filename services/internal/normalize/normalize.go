package normalize

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Input holds the artifacts of one run. Manifest is required; the others
// are nil when absent.
type Input struct {
	Manifest                                       io.Reader
	RunResults, Catalog, Sources, SemanticManifest io.Reader
	// MoreRunResults are the run results of further command steps of the same
	// run, in step order; a later step's result for a node replaces an earlier one.
	MoreRunResults []io.Reader
}

// Options tune a normalization.
type Options struct {
	// Ref is the run context stamped on every asset and used in asset IDs.
	Ref events.RunRef
	// IncludeCode keeps raw and compiled code on the assets.
	IncludeCode bool
}

// Summary is what a normalization produced; it feeds the harvest.completed event.
type Summary struct {
	Assets           int            // assets emitted
	Counts           map[string]int // assets per resource type
	ResultStatuses   map[string]int // run_results statuses as written
	Tests            events.TestOutcomes
	ArtifactVersions map[string]string // file name -> dbt_schema_version
	Warnings         []string
}

// Normalize reads the artifacts of in and calls emit once per asset: one per
// entry of the manifest's nodes (whatever the resource type, operations and
// sql_operations included), sources, exposures, metrics, semantic_models,
// saved_queries, unit_tests and functions. The small artifacts are read
// first into indexes; the manifest is then streamed, and assets are emitted
// at the end, once downstream lineage and test attachments are known, in a
// deterministic order (resource type, then unique_id).
//
// A malformed artifact is a retry.Permanent error; an error from emit stops
// the normalization and is returned wrapped.
func Normalize(ctx context.Context, in Input, opts Options, emit func(events.Asset) error) (Summary, error) {
	if in.Manifest == nil {
		return Summary{}, retry.Permanent(errors.New("normalize: no manifest.json"))
	}
	n := newNormalizer(opts)
	if err := n.readIndexes(ctx, in); err != nil {
		return n.sum, err
	}
	info, err := artifact.ReadManifest(ctx, in.Manifest, artifact.ManifestOptions{IncludeCode: opts.IncludeCode}, artifact.ManifestHandler{
		Metadata: func(m artifact.Metadata, _ artifact.Version) error { n.adapter = string(m.AdapterType); return nil },
		Resource: n.addResource,
		Group:    n.addGroup,
		ChildMap: n.addChildren,
	})
	if err != nil {
		return n.sum, fmt.Errorf("normalize: %w", err)
	}
	n.manifest(info)
	if err := n.finish(ctx, emit); err != nil {
		return n.sum, err
	}
	return n.sum, nil
}

// normalizer is the state of one Normalize call.
type normalizer struct {
	opts Options
	sum  Summary
	idx  indexes

	invocationID        string
	freshnessInvocation string
	semantic            *artifact.Info

	assets   []*events.Asset
	byID     map[string]*events.Asset
	tests    []testLink
	groups   map[string]artifact.Owner
	children map[string][]string
	childMap bool
	adapter  string
	strings  map[string]string // interned strings, see intern
}

func newNormalizer(opts Options) *normalizer {
	return &normalizer{
		opts: opts,
		sum: Summary{
			Counts:           map[string]int{},
			ResultStatuses:   map[string]int{},
			ArtifactVersions: map[string]string{},
			Warnings:         []string{},
		},
		byID:     map[string]*events.Asset{},
		groups:   map[string]artifact.Owner{},
		children: map[string][]string{},
		strings:  map[string]string{},
	}
}

// manifest records what the manifest read taught besides its entries.
func (n *normalizer) manifest(info artifact.Info) {
	if err := n.noteInfo(info, nil); err != nil {
		return
	}
	if n.semantic != nil {
		for _, s := range []string{"semantic_models", "metrics", "saved_queries"} {
			if got, want := n.semantic.Entries[s], info.Entries[s]; got != want {
				n.sum.Warnings = append(n.sum.Warnings, fmt.Sprintf(
					"semantic_manifest.json has %d %s, manifest.json %d; the manifest's are harvested", got, s, want))
			}
		}
	}
}

func (n *normalizer) addGroup(key string, g *artifact.Group) error {
	name := string(g.Name)
	if name == "" {
		name = key
	}
	n.groups[name] = g.Owner
	return nil
}

func (n *normalizer) addChildren(id string, ids []string) error {
	n.childMap = true
	if len(ids) > 0 {
		n.children[id] = ids
	}
	return nil
}
