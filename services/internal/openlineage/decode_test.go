package openlineage

import (
	"context"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
)

// TestDecodeAssetSameEvents: the events built from DecodeAsset's partial
// decode are byte for byte those built from whole events.Asset values, on a
// generated project (failing tests, catalog, sources) and on the corpus's
// real projects.
func TestDecodeAssetSameEvents(t *testing.T) {
	opts := gen.DefaultOptions(40)
	opts.FailingTests = 3
	inputs := map[string]func(t *testing.T) normalize.Input{
		"generated": func(t *testing.T) normalize.Input { return genInput(t, opts) },
	}
	for _, c := range corpusCases {
		inputs[c.manifest] = func(t *testing.T) normalize.Input { return c.input(t, corpus.Artifacts(t)) }
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			whole, partial := &Collector{}, &Collector{}
			_, err := normalize.JSON(context.Background(), input(t), normalize.Options{IncludeCode: true}, func(e normalize.Encoded) error {
				if !Wants(e.ResourceType) {
					return nil
				}
				a, err := e.Asset()
				if err != nil {
					return err
				}
				whole.Add(a)
				if a, err = DecodeAsset(e.JSON); err != nil {
					return err
				}
				partial.Add(a)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			h, o := Harvest{Generation: 1}, Options{DatasetNamespace: "postgres://db:5432"}
			want, _ := Build(h, whole, o)
			got, _ := Build(h, partial, o)
			if len(got) != len(want) || len(want) < 4 {
				t.Fatalf("%d events from the partial decode, %d from the whole one (want at least 4)", len(got), len(want))
			}
			for i := range want {
				g, err := Encode(got[i].RunEvent)
				if err != nil {
					t.Fatal(err)
				}
				w, err := Encode(want[i].RunEvent)
				if err != nil {
					t.Fatal(err)
				}
				if string(g) != string(w) {
					t.Fatalf("event %d differs:\n got %s\nwant %s", i, g, w)
				}
			}
		})
	}
}
