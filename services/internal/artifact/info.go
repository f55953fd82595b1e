package artifact

import (
	"context"
	"fmt"
	"io"
)

// Info is what reading semantic_manifest.json learned besides its entries.
type Info struct {
	Metadata Metadata
	Version  Version
	// Entries counts the entries read per section (semantic_models, metrics,
	// saved_queries).
	Entries map[string]int
	// Warnings lists what was not understood (a section of the wrong type).
	Warnings []string
}

// ReadSemanticManifest reads semantic_manifest.json, which has no schema
// version: it checks its shape and counts its semantic_models, metrics and
// saved_queries (Info.Entries) without decoding them; the manifest carries
// the same resources. A malformed document is a retry.Permanent error naming
// the byte offset; it stops with ctx's error when ctx is done.
func ReadSemanticManifest(ctx context.Context, r io.Reader) (Info, error) {
	s := NewStream(r, KindSemanticManifest)
	info := Info{Entries: map[string]int{}}
	err := s.Walk(func(name string) error {
		switch name {
		case "semantic_models", "metrics", "saved_queries":
		default:
			return nil
		}
		ok, err := s.ElementsFunc(func() error {
			if info.Entries[name]%512 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			info.Entries[name]++
			return s.Skip()
		})
		if err == nil && !ok {
			info.Warnings = append(info.Warnings, fmt.Sprintf("%s: %s is not an array; skipped", KindSemanticManifest.FileName(), name))
		}
		return err
	})
	return info, err
}
