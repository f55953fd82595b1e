package normalize

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"

	"github.com/dbt-harvester/harvester/services/internal/artifact"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// scratch is the reusable memory of whoever builds assets.
type scratch struct {
	cols []column
	e    entry
}

// pass2 reads the manifest again and emits each entry's asset, in manifest
// order. It does not scan the manifest a second time: the first pass noted
// where every entry is, so a reader goroutine copies the entries' bytes
// into batches, one builder goroutine per CPU splits each entry into its
// members and writes its asset's JSON (then calls Options.Prepare on each
// of the batch's assets), and the caller's goroutine emits the batches in
// order. Pass two only reads the normalizer's state; the
// summary's counts are updated where emit is called.
func (n *normalizer) pass2(ctx context.Context, r io.Reader, emit func(Encoded) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	builders := runtime.GOMAXPROCS(0)
	inFlight := 2*builders + 2
	// Every channel has room for every batch, so no send blocks; only the
	// reader waits, for a free batch.
	free, work, order := make(chan *batch, inFlight), make(chan *batch, inFlight), make(chan *batch, inFlight)
	for range inFlight {
		free <- &batch{done: make(chan struct{}, 1)}
	}
	for range builders {
		go func() {
			sc := &scratch{}
			for b := range work {
				n.build(sc, b)
				b.done <- struct{}{}
			}
		}()
	}
	read := make(chan error, 1)
	go func() {
		err := n.readBatches(ctx, r, free, func(b *batch) { order <- b; work <- b })
		close(work)
		close(order)
		read <- err
	}()
	var emitErr error
	for b := range order {
		<-b.done
		if emitErr == nil {
			if emitErr = n.emitBatch(b, emit); emitErr != nil {
				cancel()
			}
		}
		free <- b
	}
	if err := <-read; emitErr == nil && err != nil {
		return err
	}
	return emitErr
}

// batchBytes is about how many bytes of entries a batch holds.
const batchBytes = 16 << 10

// batch is a run of manifest entries and, once built, their assets.
type batch struct {
	raw      []byte
	entries  []batchEntry
	out      []byte
	outEnds  []int
	types    []string
	prepared []any // Options.Prepare's, per asset
	err      error
	done     chan struct{} // a builder is done with the batch
}

type batchEntry struct {
	at         int // index in normalizer.entries
	start, end int // the entry's bytes in raw
}

func (b *batch) reset() {
	b.raw, b.entries = b.raw[:0], b.entries[:0]
	b.out, b.outEnds, b.types, b.err = b.out[:0], b.outEnds[:0], b.types[:0], nil
	clear(b.prepared) // drop the last run's values for the collector
	b.prepared = b.prepared[:0]
}

// readBatches is pass two's reader: it copies each entry's bytes from where
// the first pass found them.
func (n *normalizer) readBatches(ctx context.Context, r io.Reader, free <-chan *batch, send func(*batch)) error {
	br := bufio.NewReaderSize(r, 32<<10)
	var pos int64 // offset in the manifest of br's next byte
	var cur *batch
	for i, at := range n.entries {
		if i%512 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if cur == nil {
			select {
			case cur = <-free:
				cur.reset()
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		start := len(cur.raw)
		if at.n > 0 {
			if _, err := br.Discard(int(at.off - pos)); err != nil {
				return n.rereadErr(at, err)
			}
			cur.raw = slices.Grow(cur.raw, at.n)[:start+at.n]
			if _, err := io.ReadFull(br, cur.raw[start:]); err != nil {
				return n.rereadErr(at, err)
			}
			pos = at.off + int64(at.n)
			if cur.raw[start] != '{' || cur.raw[len(cur.raw)-1] != '}' {
				return n.rereadErr(at, nil)
			}
		}
		cur.entries = append(cur.entries, batchEntry{at: i, start: start, end: len(cur.raw)})
		if len(cur.raw) >= batchBytes {
			send(cur)
			cur = nil
		}
	}
	if cur != nil && len(cur.entries) > 0 {
		send(cur)
	}
	return nil
}

// rereadErr is the error of a second reading that does not find an entry
// where the first one did: a read error, or the manifest changed (or a
// ReopenManifest that does not reopen the same document), which is permanent.
func (n *normalizer) rereadErr(at entryAt, err error) error {
	key := n.ids[at.node]
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return retry.Permanent(fmt.Errorf("normalize: manifest.json changed between its two readings: %s is not at byte %d", key, at.off))
	}
	return fmt.Errorf("normalize: read manifest.json again at %s: %w", key, err)
}

// build turns a batch's entries into assets.
func (n *normalizer) build(sc *scratch, b *batch) {
	member := func(k, v []byte) error { sc.e.member(k, v); return nil }
	for _, be := range b.entries {
		at := n.entries[be.at]
		section, key := resourceSections[at.section], n.ids[at.node]
		sc.e = entry{}
		if _, err := artifact.EachMember(b.raw[be.start:be.end], member); err != nil {
			b.err = malformed(artifact.KindManifest, err, section, key)
			return
		}
		var typ string
		b.out, typ = n.asset(sc, b.out, section, at.node, &sc.e)
		if sc.e.err != nil {
			b.err = malformed(artifact.KindManifest, sc.e.err, section, key)
			return
		}
		b.outEnds = append(b.outEnds, len(b.out))
		b.types = append(b.types, typ)
	}
	if n.opts.Prepare == nil {
		return
	}
	start := 0
	for i, end := range b.outEnds {
		key := n.ids[n.entries[b.entries[i].at].node]
		p, err := n.opts.Prepare(Encoded{UniqueID: key, ResourceType: b.types[i], JSON: b.out[start:end:end]})
		if err != nil {
			b.err = fmt.Errorf("normalize: prepare %s: %w", key, err)
			return
		}
		b.prepared = append(b.prepared, p)
		start = end
	}
}

// emitBatch emits a built batch's assets in order.
func (n *normalizer) emitBatch(b *batch, emit func(Encoded) error) error {
	if b.err != nil {
		return b.err
	}
	start := 0
	for i, end := range b.outEnds {
		key := n.ids[n.entries[b.entries[i].at].node]
		e := Encoded{UniqueID: key, ResourceType: b.types[i], JSON: b.out[start:end:end]}
		if i < len(b.prepared) {
			e.Prepared = b.prepared[i]
		}
		if err := emit(e); err != nil {
			return fmt.Errorf("normalize: emit %s: %w", key, err)
		}
		start = end
		n.sum.Assets++
		n.sum.Counts[b.types[i]]++
	}
	return nil
}
