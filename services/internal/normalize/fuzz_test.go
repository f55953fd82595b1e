package normalize

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// FuzzNormalize feeds arbitrary artifacts (manifest, run results of two
// steps, catalog, sources) through Normalize: it must never panic, fail only
// with a permanent error, write only assets that decode, and never give an
// asset two columns of the same name (case-insensitively), whatever the
// catalog's and the YAML's column keys and names say.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{smallManifest, `{"nodes": {"test.p.t": {"resource_type": "test", "attached_node": "model.p.x", "column_name": "c"}}}`,
		`{"nodes": {"model.p.orders": {"columns": {"ID": {}}}}, "child_map": null}`, `[]`} {
		f.Add(s, smallRunResults, smallCatalog, smallSources)
	}
	f.Add(smallManifest, `{"results": [{"unique_id": "model.p.orders", "status": 1, "timing": [{"name": "execute", "started_at": "2024-02-30T00:00:00Z"}], "adapter_response": {"a": [1, {"b": null}]}}]}`,
		`{"nodes": {"model.p.orders": {"columns": {"id": {"index": "x", "type": null}}, "stats": {"s": {"id": "n", "value": {"v": 1}}}}}}`,
		`{"results": [{"unique_id": "source.p.raw.orders", "criteria": {"warn_after": {"count": 1}}, "error": "boom"}]}`)
	f.Add(`{"nodes": {"model.p.orders": {"columns": {"a": {"name": "B"}, "b": {}, "ID": {"name": "id"}}}}}`, `{}`,
		`{"nodes": {"model.p.orders": {"columns": {"ID": {"name": "id", "index": 2}, "id": {"type": "int", "index": 1}, "a": {"name": "b"}, "b": {}, "k": {}, "\u212a": {}}}}}`, `{}`)
	f.Fuzz(func(t *testing.T, manifest, runResults, catalog, sources string) {
		in := Input{
			Manifest:       strings.NewReader(manifest),
			RunResults:     strings.NewReader(runResults),
			MoreRunResults: []io.Reader{strings.NewReader(runResults)},
			Catalog:        strings.NewReader(catalog),
			Sources:        strings.NewReader(sources),
		}
		_, err := Normalize(context.Background(), in, Options{IncludeCode: true}, func(a events.Asset) error {
			for i, c := range a.Columns {
				for _, d := range a.Columns[:i] {
					if strings.EqualFold(c.Name, d.Name) {
						t.Fatalf("asset %s has columns %q and %q", a.UniqueID, d.Name, c.Name)
					}
				}
			}
			return nil
		})
		if err != nil && !retry.IsPermanent(err) {
			t.Fatalf("Normalize = %v, want nil or a permanent error", err)
		}
	})
}
