package artifact

import (
	"context"
	"io"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Timing is one phase (compile, execute) of a node's execution.
type Timing struct {
	Name        Text `json:"name"`
	StartedAt   Time `json:"started_at"`
	CompletedAt Time `json:"completed_at"`
}

// RunResult is one entry of run_results.json's results, v1–v6. failures
// appeared in v3, relation_name in v5; v1 has no adapter_response on some
// adapters. status is passed through as written.
type RunResult struct {
	UniqueID        Text     `json:"unique_id"`
	Status          Text     `json:"status"`
	ExecutionTime   Number   `json:"execution_time"`
	Message         Text     `json:"message"`
	Failures        Number   `json:"failures"`
	ThreadID        Text     `json:"thread_id"`
	AdapterResponse Object   `json:"adapter_response"`
	Timing          []Timing `json:"timing"`
	RelationName    Text     `json:"relation_name"`
}

// oracleRunResults streams run_results.json, calling fn for each result.
// Errors are classified as in [oracleManifest].
func oracleRunResults(ctx context.Context, r io.Reader, fn func(*RunResult) error) (Info, error) {
	return readResults(ctx, r, KindRunResults, fn)
}

// readResults streams the "results" array of an artifact of kind (run
// results, source freshness), decoding each entry as a T for fn.
func readResults[T any](ctx context.Context, r io.Reader, kind Kind, fn func(*T) error) (Info, error) {
	rd := newReader(ctx, r, kind)
	err := rd.walk(func(name string) (bool, error) {
		if name != "results" {
			return false, nil
		}
		return true, rd.elements(name, func() error {
			var res T
			if err := rd.entry("results", &res); err != nil {
				return err
			}
			return fn(&res)
		})
	})
	if err != nil {
		return rd.info, err
	}
	return rd.finish(), nil
}

// FreshnessResult is one entry of sources.json's results, v1–v3. A source
// whose freshness query failed has status "runtime error" and an error
// message instead of max_loaded_at.
type FreshnessResult struct {
	UniqueID        Text     `json:"unique_id"`
	Status          Text     `json:"status"`
	MaxLoadedAt     Time     `json:"max_loaded_at"`
	SnapshottedAt   Time     `json:"snapshotted_at"`
	AgeSeconds      Number   `json:"max_loaded_at_time_ago_in_s"`
	Criteria        Object   `json:"criteria"`
	AdapterResponse Object   `json:"adapter_response"`
	Timing          []Timing `json:"timing"`
	ThreadID        Text     `json:"thread_id"`
	ExecutionTime   Number   `json:"execution_time"`
	Error           Text     `json:"error"`
}

// oracleSources streams sources.json (source freshness), calling fn for each
// result. Errors are classified as in [oracleManifest].
func oracleSources(ctx context.Context, r io.Reader, fn func(*FreshnessResult) error) (Info, error) {
	return readResults(ctx, r, KindSources, fn)
}

// CatalogTable is one entry of catalog.json's nodes or sources.
type CatalogTable struct {
	UniqueID Text `json:"unique_id"`
	Metadata struct {
		Type     Text `json:"type"`
		Schema   Text `json:"schema"`
		Name     Text `json:"name"`
		Database Text `json:"database"`
		Comment  Text `json:"comment"`
		Owner    Text `json:"owner"`
	} `json:"metadata"`
	Columns CatalogColumns `json:"columns"`
	Stats   Stats          `json:"stats"`
}

// CatalogColumn is a column as the warehouse describes it.
type CatalogColumn struct {
	Name    Text   `json:"name"`
	Type    Text   `json:"type"`
	Index   Number `json:"index"`
	Comment Text   `json:"comment"`
}

// CatalogColumns are a table's columns in the order the catalog lists them.
type CatalogColumns []CatalogColumn

// UnmarshalJSONFrom implements json.UnmarshalerFrom, keeping member order.
func (cs *CatalogColumns) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return orderedMembers(dec, func(key string) error {
		var c CatalogColumn
		if err := json.UnmarshalDecode(dec, &c); err != nil {
			return err
		}
		if c.Name == "" {
			c.Name = Text(key)
		}
		*cs = append(*cs, c)
		return nil
	})
}

// Stat is one table statistic of the catalog.
type Stat struct {
	ID          Text `json:"id"`
	Label       Text `json:"label"`
	Value       any  `json:"value"`
	Description Text `json:"description"`
}

// Stats are a table's statistics in catalog order.
type Stats []Stat

// UnmarshalJSONFrom implements json.UnmarshalerFrom, keeping member order.
func (ss *Stats) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return orderedMembers(dec, func(key string) error {
		var s Stat
		if err := json.UnmarshalDecode(dec, &s); err != nil {
			return err
		}
		if s.ID == "" {
			s.ID = Text(key)
		}
		*ss = append(*ss, s)
		return nil
	})
}

// oracleCatalog streams catalog.json (v1), calling fn for each entry of nodes
// and sources with the section name and the member key (the unique_id).
// The catalog's errors are reported in Info.Warnings. Errors are classified
// as in [oracleManifest].
func oracleCatalog(ctx context.Context, r io.Reader, fn func(section, key string, t *CatalogTable) error) (Info, error) {
	rd := newReader(ctx, r, KindCatalog)
	err := rd.walk(func(name string) (bool, error) {
		switch name {
		case "nodes", "sources":
			return true, rd.members(name, func(key string) error {
				var t CatalogTable
				if err := rd.entry(name+"."+key, &t); err != nil {
					return err
				}
				return fn(name, key, &t)
			})
		case "errors":
			var errs TextList
			if err := rd.entry("errors", &errs); err != nil {
				return true, err
			}
			for _, e := range errs {
				rd.warnf("catalog.json: dbt reported: %s", e)
			}
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return rd.info, err
	}
	return rd.finish(), nil
}
