package normalize

import (
	"context"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// FuzzNormalize feeds arbitrary manifests (with the small run results and
// catalog) through Normalize: it must never panic, and fail only with a
// permanent error.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{smallManifest, `{"nodes": {"test.p.t": {"resource_type": "test", "attached_node": "model.p.x", "column_name": "c"}}}`,
		`{"nodes": {"model.p.orders": {"columns": {"ID": {}}}}, "child_map": null}`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, manifest string) {
		in := Input{
			Manifest:   strings.NewReader(manifest),
			RunResults: strings.NewReader(smallRunResults),
			Catalog:    strings.NewReader(smallCatalog),
			Sources:    strings.NewReader(smallSources),
		}
		_, err := Normalize(context.Background(), in, Options{IncludeCode: true}, func(events.Asset) error { return nil })
		if err != nil && !retry.IsPermanent(err) {
			t.Fatalf("Normalize = %v, want nil or a permanent error", err)
		}
	})
}
