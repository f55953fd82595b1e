package openlineage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
)

// BenchmarkBuild measures what OpenLineage adds to a harvest of a generated
// 1,000-model project: decoding the assets it needs, building the events,
// and encoding them as the messages of DBT_OPENLINEAGE (not the
// normalization itself, nor the publish).
func BenchmarkBuild(b *testing.B) {
	dir := b.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(1000)); err != nil {
		b.Fatal(err)
	}
	files := map[string][]byte{}
	for _, name := range []string{events.ManifestJSON, events.RunResultsJSON, events.CatalogJSON} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		files[name] = data
	}
	var encoded []normalize.Encoded
	sum, err := normalize.JSON(b.Context(), normalize.Input{Manifest: bytes.NewReader(files[events.ManifestJSON]),
		RunResults: bytes.NewReader(files[events.RunResultsJSON]), Catalog: bytes.NewReader(files[events.CatalogJSON])},
		normalize.Options{IncludeCode: true}, func(e normalize.Encoded) error {
			e.JSON = bytes.Clone(e.JSON)
			encoded = append(encoded, e)
			return nil
		})
	if err != nil {
		b.Fatal(err)
	}
	h := smallHarvest()
	h.Project = sum.Project
	b.ResetTimer()
	var bytesOut int
	for b.Loop() {
		c := &Collector{}
		for _, e := range encoded {
			if Wants(e.ResourceType) {
				a, err := DecodeAsset(e.JSON)
				if err != nil {
					b.Fatal(err)
				}
				c.Add(a)
			}
		}
		evs, _ := Build(h, c, smallOptions)
		msgs, _, err := Messages(h.Run.RunRef, 1, evs, events.Trace{})
		if err != nil {
			b.Fatal(err)
		}
		bytesOut = 0
		for _, m := range msgs {
			bytesOut += len(m.Data)
		}
		b.ReportMetric(float64(len(msgs)), "events")
	}
	b.ReportMetric(float64(bytesOut)/float64(1<<20), "MiB")
}
