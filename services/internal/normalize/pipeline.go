package normalize

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// scratch is pass two's reusable memory.
type scratch struct {
	deps []int32
	cols []column
	e    entry
}

// pass2 reads the manifest again and emits each entry's asset. It only
// reads the normalizer's state (besides the summary's counts).
func (n *normalizer) pass2(ctx context.Context, r io.Reader, emit func(Encoded) error) error {
	s := artifact.NewStream(r, artifact.KindManifest)
	sc := &scratch{}
	member := func(k, v []byte) error { sc.e.member(k, v); return nil }
	var b []byte
	count := 0
	err := s.Walk(func(name string) error {
		if !isResourceSection(name) {
			return s.Skip()
		}
		_, err := s.MembersObject(func(key string) error {
			if count++; count%512 == 1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			sc.e = entry{}
			if _, err := s.Object(member); err != nil {
				return err
			}
			var typ string
			b, typ = n.asset(sc, b[:0], name, key, &sc.e)
			if err := emit(Encoded{UniqueID: key, ResourceType: typ, JSON: b}); err != nil {
				return fmt.Errorf("normalize: emit %s: %w", key, err)
			}
			n.sum.Assets++
			n.sum.Counts[typ]++
			return nil
		})
		return err
	})
	if err != nil && !strings.HasPrefix(err.Error(), "normalize: ") {
		return fmt.Errorf("normalize: %w", err)
	}
	return err
}
