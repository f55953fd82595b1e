package normalize

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Open opens a run's stored artifacts as an Input, with open (by object key
// or path): run results in step order, so that a later command step's
// result wins, and the manifest of the last command step, which
// ReopenManifest opens again for the second pass. Names it does not know are
// left alone. A run without a manifest is a permanent error. The returned
// function closes what was opened.
func Open(arts []events.StoredArtifact, open func(key string) (io.ReadCloser, error)) (Input, func(), error) {
	var in Input
	var opened []io.Closer
	closeAll := func() {
		for _, c := range opened {
			c.Close()
		}
	}
	arts = slices.Clone(arts)
	slices.SortStableFunc(arts, func(a, b events.StoredArtifact) int { return cmp.Compare(a.Step, b.Step) })
	for _, a := range arts {
		var dst *io.Reader
		switch a.Name {
		case events.ManifestJSON:
			dst = &in.Manifest
		case events.RunResultsJSON:
			if in.RunResults != nil {
				in.MoreRunResults = append(in.MoreRunResults, nil)
				dst = &in.MoreRunResults[len(in.MoreRunResults)-1]
				break
			}
			dst = &in.RunResults
		case events.CatalogJSON:
			dst = &in.Catalog
		case events.SourcesJSON:
			dst = &in.Sources
		case events.SemanticManifestJSON:
			dst = &in.SemanticManifest
		default:
			continue
		}
		r, err := open(a.Key)
		if err != nil {
			closeAll()
			return in, nil, fmt.Errorf("open %s (%s): %w", a.Name, a.Key, err)
		}
		opened = append(opened, r)
		*dst = r
		if a.Name == events.ManifestJSON {
			key := a.Key
			in.ReopenManifest = func() (io.ReadCloser, error) {
				r, err := open(key)
				if err != nil {
					return nil, fmt.Errorf("reopen %s: %w", key, err)
				}
				return r, nil
			}
		}
	}
	if in.Manifest == nil {
		closeAll()
		return in, nil, retry.Permanent(errors.New("the run's artifacts include no manifest.json"))
	}
	return in, closeAll, nil
}
