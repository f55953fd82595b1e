package normalize

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// catalogEntry is the compact form of one catalog table.
type catalogEntry struct {
	tableType, comment, owner string
	columns                   []artifact.CatalogColumn // sorted by index
	stats                     map[string]any
	used                      bool
}

// indexes hold the small artifacts, read before the manifest.
type indexes struct {
	results   map[string]*events.Result
	freshness map[string]*artifact.FreshnessResult
	catalog   map[string]*catalogEntry
}

func (n *normalizer) readIndexes(ctx context.Context, in Input) error {
	n.idx = indexes{
		results:   map[string]*events.Result{},
		freshness: map[string]*artifact.FreshnessResult{},
		catalog:   map[string]*catalogEntry{},
	}
	if in.Catalog != nil {
		info, err := artifact.ReadCatalog(ctx, in.Catalog, n.addCatalog)
		if err := n.noteInfo(info, err); err != nil {
			return err
		}
	}
	for _, rr := range append([]io.Reader{in.RunResults}, in.MoreRunResults...) {
		if rr == nil {
			continue
		}
		before := map[*events.Result]bool{}
		for _, r := range n.idx.results {
			before[r] = true
		}
		info, err := artifact.ReadRunResults(ctx, rr, n.addResult)
		if err := n.noteInfo(info, err); err != nil {
			return err
		}
		n.invocationID = string(info.Metadata.InvocationID)
		for _, r := range n.idx.results {
			if !before[r] {
				r.InvocationID = n.invocationID
			}
		}
	}
	if in.Sources != nil {
		info, err := artifact.ReadSources(ctx, in.Sources, n.addFreshness)
		if err := n.noteInfo(info, err); err != nil {
			return err
		}
		n.freshnessInvocation = string(info.Metadata.InvocationID)
	}
	if in.SemanticManifest != nil {
		info, err := artifact.ReadSemanticManifest(ctx, in.SemanticManifest)
		if err := n.noteInfo(info, err); err != nil {
			return err
		}
		n.semantic = &info
	}
	return nil
}

// noteInfo records an artifact's version and warnings.
func (n *normalizer) noteInfo(info artifact.Info, err error) error {
	if err != nil {
		return fmt.Errorf("normalize: %w", err)
	}
	if v := string(info.Metadata.SchemaVersion); v != "" {
		n.sum.ArtifactVersions[info.Version.Kind.FileName()] = v
	}
	n.sum.Warnings = append(n.sum.Warnings, info.Warnings...)
	return nil
}

func (n *normalizer) addCatalog(_, key string, t *artifact.CatalogTable) error {
	e := &catalogEntry{
		tableType: string(t.Metadata.Type),
		comment:   string(t.Metadata.Comment),
		owner:     string(t.Metadata.Owner),
		columns:   t.Columns,
	}
	sort.SliceStable(e.columns, func(i, j int) bool { return e.columns[i].Index.Value < e.columns[j].Index.Value })
	for _, s := range t.Stats {
		if s.ID == "has_stats" || s.ID == "" {
			continue
		}
		if e.stats == nil {
			e.stats = map[string]any{}
		}
		e.stats[string(s.ID)] = s.Value
	}
	n.idx.catalog[key] = e
	return nil
}

func (n *normalizer) addResult(r *artifact.RunResult) error {
	status := string(r.Status)
	n.sum.ResultStatuses[status]++
	id := string(r.UniqueID)
	if isTestID(id) {
		countOutcome(&n.sum.Tests, status)
	}
	res := &events.Result{
		Status:          status,
		ExecutionTime:   r.ExecutionTime.Value,
		Message:         string(r.Message),
		Failures:        r.Failures.IntPtr(),
		AdapterResponse: r.AdapterResponse,
		ThreadID:        string(r.ThreadID),
	}
	if v, ok := r.AdapterResponse["rows_affected"].(float64); ok {
		rows := int64(v)
		res.RowsAffected = &rows
	}
	for _, t := range r.Timing {
		switch t.Name {
		case "compile":
			res.CompileStarted, res.CompileDone = t.StartedAt.Ptr(), t.CompletedAt.Ptr()
		case "execute":
			res.ExecuteStarted, res.ExecuteDone = t.StartedAt.Ptr(), t.CompletedAt.Ptr()
		}
	}
	n.idx.results[id] = res
	return nil
}

func (n *normalizer) addFreshness(r *artifact.FreshnessResult) error {
	n.idx.freshness[string(r.UniqueID)] = r
	return nil
}

// freshnessResult puts a source's freshness onto its result (creating it).
func freshnessResult(res *events.Result, f *artifact.FreshnessResult, invocation string) *events.Result {
	if res == nil {
		res = &events.Result{
			Status:          string(f.Status),
			ExecutionTime:   f.ExecutionTime.Value,
			Message:         string(f.Error),
			AdapterResponse: f.AdapterResponse,
			ThreadID:        string(f.ThreadID),
			InvocationID:    invocation,
		}
		for _, t := range f.Timing {
			switch t.Name {
			case "compile":
				res.CompileStarted, res.CompileDone = t.StartedAt.Ptr(), t.CompletedAt.Ptr()
			case "execute":
				res.ExecuteStarted, res.ExecuteDone = t.StartedAt.Ptr(), t.CompletedAt.Ptr()
			}
		}
	}
	res.MaxLoadedAt = f.MaxLoadedAt.Ptr()
	res.SnapshottedAt = f.SnapshottedAt.Ptr()
	res.AgeSeconds = f.AgeSeconds.FloatPtr()
	return res
}

func isTestID(id string) bool {
	return strings.HasPrefix(id, "test.") || strings.HasPrefix(id, "unit_test.")
}

// countOutcome counts a test's run status.
func countOutcome(t *events.TestOutcomes, status string) {
	switch strings.ToLower(status) {
	case "pass", "success":
		t.Pass++
	case "warn":
		t.Warn++
	case "fail":
		t.Fail++
	case "error", "runtime error":
		t.Error++
	case "skipped", "skip":
		t.Skipped++
	default:
		t.Other++
	}
}
