package normalize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// scratch is the reusable memory of whoever builds assets.
type scratch struct {
	deps []int32
	cols []column
	e    entry
}

// pass2 reads the manifest again and emits each entry's asset, in manifest
// order. With more than one CPU it runs as a pipeline: this goroutine's
// helper scans entries into batches (the entry's bytes and where each
// member's value is in them), a builder turns a batch into assets' JSON,
// and the caller's goroutine emits them. Pass two only reads the
// normalizer's state; the summary's counts are updated where emit is called.
func (n *normalizer) pass2(ctx context.Context, r io.Reader, emit func(Encoded) error) error {
	if runtime.GOMAXPROCS(0) < 2 {
		return n.pass2Serial(ctx, r, emit)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const inFlight = 3
	free, built := make(chan *batch, inFlight), make(chan *batch, inFlight)
	work := make(chan *batch, inFlight)
	for range inFlight {
		free <- &batch{}
	}
	go func() { // the builder
		sc := &scratch{}
		for b := range work {
			n.build(sc, b)
			built <- b
		}
		close(built)
	}()
	scanned := make(chan error, 1)
	go func() {
		err := n.scanBatches(ctx, r, free, work)
		close(work)
		scanned <- err
	}()
	var emitErr error
	for b := range built {
		if emitErr == nil {
			if emitErr = n.emitBatch(b, emit); emitErr != nil {
				cancel()
			}
		}
		free <- b
	}
	if err := <-scanned; emitErr == nil && err != nil {
		if strings.HasPrefix(err.Error(), "normalize: ") || errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("normalize: %w", err)
	}
	return emitErr
}

// batchBytes is about how many bytes of entries a batch holds.
const batchBytes = 32 << 10

// batch is a run of manifest entries and, once built, their assets.
type batch struct {
	raw     []byte
	entries []batchEntry
	fields  []span // fieldCount per entry
	out     []byte
	outEnds []int
	types   []string
	err     error
}

type batchEntry struct {
	key, section string
	start, end   int  // the entry's bytes in raw
	parsed       bool // fields hold its members; else parse raw again
}

// span is where a member's value is in an entry's bytes; n < 0 for none.
type span struct{ off, n int32 }

func (b *batch) reset() {
	b.raw, b.entries, b.fields = b.raw[:0], b.entries[:0], b.fields[:0]
	b.out, b.outEnds, b.types, b.err = b.out[:0], b.outEnds[:0], b.types[:0], nil
}

// scanBatches is pass two's reader.
func (n *normalizer) scanBatches(ctx context.Context, r io.Reader, free <-chan *batch, work chan<- *batch) error {
	s := artifact.NewStream(r, artifact.KindManifest)
	var e entry
	member := func(k, v []byte) error { e.member(k, v); return nil }
	ptrs := e.fieldPtrs()
	var cur *batch
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
			e = entry{}
			if _, err := s.Object(member); err != nil {
				return err
			}
			if cur == nil {
				select {
				case cur = <-free:
					cur.reset()
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			cur.add(key, name, s.LastObject(), ptrs)
			if len(cur.raw) >= batchBytes {
				work <- cur
				cur = nil
			}
			return nil
		})
		return err
	})
	if cur != nil && len(cur.entries) > 0 {
		work <- cur
	}
	return err
}

// add appends an entry's bytes and the spans of its parsed members.
func (b *batch) add(key, section string, obj []byte, ptrs []*[]byte) {
	base := len(b.raw)
	b.raw = append(b.raw, obj...)
	be := batchEntry{key: key, section: section, start: base, end: len(b.raw), parsed: true}
	for _, p := range ptrs {
		f := *p
		if len(f) == 0 {
			b.fields = append(b.fields, span{-1, 0})
			continue
		}
		off := cap(obj) - cap(f)
		if off < 0 || off+len(f) > len(obj) || &obj[off] != &f[0] {
			be.parsed = false // the entry outgrew the buffer while read: parse it again
		}
		b.fields = append(b.fields, span{int32(off), int32(len(f))})
	}
	b.entries = append(b.entries, be)
}

// build turns a batch's entries into assets.
func (n *normalizer) build(sc *scratch, b *batch) {
	ptrs := sc.e.fieldPtrs()
	member := func(k, v []byte) error { sc.e.member(k, v); return nil }
	for i, be := range b.entries {
		sc.e = entry{}
		raw := b.raw[be.start:be.end]
		if be.parsed {
			for j, p := range ptrs {
				if sp := b.fields[i*len(ptrs)+j]; sp.off >= 0 {
					*p = raw[sp.off : sp.off+sp.n]
				}
			}
		} else if _, err := artifact.EachMember(raw, member); err != nil {
			b.err = malformed(artifact.KindManifest, be.section+"."+be.key, err)
			return
		}
		var typ string
		b.out, typ = n.asset(sc, b.out, be.section, be.key, &sc.e)
		b.outEnds = append(b.outEnds, len(b.out))
		b.types = append(b.types, typ)
	}
}

// emitBatch emits a built batch's assets in order.
func (n *normalizer) emitBatch(b *batch, emit func(Encoded) error) error {
	if b.err != nil {
		return b.err
	}
	start := 0
	for i, end := range b.outEnds {
		key := b.entries[i].key
		if err := emit(Encoded{UniqueID: key, ResourceType: b.types[i], JSON: b.out[start:end:end]}); err != nil {
			return fmt.Errorf("normalize: emit %s: %w", key, err)
		}
		start = end
		n.sum.Assets++
		n.sum.Counts[b.types[i]]++
	}
	return nil
}

// pass2Serial is pass two on one goroutine.
func (n *normalizer) pass2Serial(ctx context.Context, r io.Reader, emit func(Encoded) error) error {
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
