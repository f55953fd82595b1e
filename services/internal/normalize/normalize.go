package normalize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Input holds the artifacts of one run. Manifest (or ReopenManifest) is
// required; the others are nil when absent.
type Input struct {
	Manifest io.Reader
	// ReopenManifest opens manifest.json again for the second pass (see the
	// package doc). When nil, Normalize keeps a copy of the manifest in memory
	// between its two passes; when Manifest is nil it opens the first pass too.
	ReopenManifest                                 func() (io.ReadCloser, error)
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
	// Prepare, when set, is called once per asset on the goroutines that
	// build the assets (one per CPU, concurrently, in no order) before the
	// asset is emitted; what it returns is the emit call's
	// Encoded.Prepared. It is where a caller's per-asset work runs in
	// parallel, leaving emit (called in manifest order, one at a time) the
	// work that needs order. Its Encoded.JSON stays valid until that emit
	// call returns. An error stops the normalization like emit's.
	Prepare func(Encoded) (any, error)
}

// Summary is what a normalization produced; it feeds the harvest.completed event.
type Summary struct {
	Assets           int                 // assets emitted
	Counts           map[string]int      // assets per resource type
	ResultStatuses   map[string]int      // statuses as written: each node's last run result, each source's freshness
	Tests            events.TestOutcomes // each test's last run result
	ArtifactVersions map[string]string   // file name -> dbt_schema_version
	Project          *events.ProjectInfo
	Groups           []events.GroupInfo
	Warnings         []string
}

// Encoded is one asset as its event carries it.
type Encoded struct {
	UniqueID     string
	ResourceType string
	// JSON is the asset event's data (an events.Asset). It is valid only
	// until the emit call returns.
	JSON []byte
	// Prepared is what Options.Prepare returned for the asset; nil without.
	Prepared any
}

// Asset decodes the asset.
func (e Encoded) Asset() (events.Asset, error) {
	var a events.Asset
	if err := json.Unmarshal(e.JSON, &a); err != nil {
		return a, fmt.Errorf("decode asset %s: %w", e.UniqueID, err)
	}
	return a, nil
}

// Normalize is JSON with each asset decoded into an events.Asset,
// for callers that want the Go value rather than the event's JSON.
func Normalize(ctx context.Context, in Input, opts Options, emit func(events.Asset) error) (Summary, error) {
	return JSON(ctx, in, opts, func(e Encoded) error {
		a, err := e.Asset()
		if err != nil {
			return err
		}
		return emit(a)
	})
}

// JSON reads the artifacts of in and calls emit once per asset, in
// manifest order: one per entry of the manifest's nodes (whatever the
// resource type, operations and sql_operations included), sources,
// exposures, metrics, semantic_models, saved_queries, unit_tests and
// functions. See the package doc for the two passes.
//
// A malformed artifact is a retry.Permanent error; an error from emit stops
// the normalization and is returned wrapped.
func JSON(ctx context.Context, in Input, opts Options, emit func(Encoded) error) (Summary, error) {
	first, second, closeFirst, err := manifestReaders(in)
	if err != nil {
		return Summary{}, err
	}
	n := newNormalizer(opts)
	ctx1, cancel := context.WithCancel(ctx)
	idxErr := make(chan error, 1)
	go func() { // the other artifacts, while the manifest is read
		err := n.readIndexes(ctx1, in)
		if err != nil {
			cancel()
		}
		idxErr <- err
	}()
	err = n.pass1(ctx1, first)
	closeFirst()
	ierr := <-idxErr
	cancel()
	switch {
	case ierr != nil && (err == nil || errors.Is(err, context.Canceled) && ctx.Err() == nil):
		return n.sum, ierr
	case err != nil:
		return n.sum, err
	case ierr != nil:
		return n.sum, ierr
	}
	n.joinIndexes()
	n.link()
	r, err := second()
	if err != nil {
		return n.sum, fmt.Errorf("normalize: reopen manifest.json: %w", err)
	}
	defer r.Close()
	if err := n.pass2(ctx, r, emit); err != nil {
		return n.sum, err
	}
	n.unmatched()
	return n.sum, nil
}

// manifestReaders returns the readers of the two passes over the manifest.
func manifestReaders(in Input) (io.Reader, func() (io.ReadCloser, error), func(), error) {
	switch {
	case in.Manifest == nil && in.ReopenManifest == nil:
		return nil, nil, nil, retry.Permanent(errors.New("normalize: no manifest.json"))
	case in.ReopenManifest != nil && in.Manifest != nil:
		return in.Manifest, in.ReopenManifest, func() {}, nil
	case in.ReopenManifest != nil:
		r, err := in.ReopenManifest()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("normalize: open manifest.json: %w", err)
		}
		return r, in.ReopenManifest, func() { r.Close() }, nil
	}
	var copied bytes.Buffer
	second := func() (io.ReadCloser, error) { return io.NopCloser(&copied), nil }
	return io.TeeReader(in.Manifest, &copied), second, func() {}, nil
}

func (n *normalizer) warnf(format string, args ...any) {
	n.sum.Warnings = append(n.sum.Warnings, fmt.Sprintf(format, args...))
}

// noteInfo records an artifact's version and warnings.
func (n *normalizer) noteVersion(kind artifact.Kind, m artifact.Metadata, v artifact.Version) {
	if s := string(m.SchemaVersion); s != "" {
		n.sum.ArtifactVersions[kind.FileName()] = s
	}
	if v.Warning != "" {
		n.warnf("%s", v.Warning)
	}
}

// malformed wraps a raw-value error of an artifact as permanent; where is
// the path to the value, joined with dots only when err is not nil.
func malformed(kind artifact.Kind, err error, where ...string) error {
	if err == nil {
		return nil
	}
	return retry.Permanent(fmt.Errorf("normalize: read %s: %s: %w", kind.FileName(), strings.Join(where, "."), err))
}
