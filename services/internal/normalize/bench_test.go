package normalize

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/corpus"
)

// largestManifest is the biggest manifest of the corpus (INDEX.tsv size_bytes).
func largestManifest(b *testing.B) []byte {
	b.Helper()
	root := corpus.Artifacts(b)
	idx, err := os.ReadFile(filepath.Join(root, "INDEX.tsv"))
	if err != nil {
		b.Fatal(err)
	}
	best, bestSize := "", int64(0)
	for _, line := range strings.Split(string(idx), "\n") {
		cols := strings.Split(line, "\t")
		if len(cols) < 10 || cols[5] != "manifest" {
			continue
		}
		if n, _ := strconv.ParseInt(cols[9], 10, 64); n > bestSize {
			best, bestSize = cols[0], n
		}
	}
	doc, err := os.ReadFile(filepath.Join(root, best))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("largest manifest: %s (%d bytes)", best, len(doc))
	return doc
}

// BenchmarkNormalize normalizes the largest corpus manifest; compare its
// MB/s with BenchmarkDecodeMap's. Its first iteration also measures the peak
// live heap (after a GC, sampled while the manifest is read and while assets
// are emitted) above the baseline, per manifest byte: peaklive/byte.
func BenchmarkNormalize(b *testing.B) {
	doc := largestManifest(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	peakLive(b, doc) // warm the JSON type caches first
	peak := peakLive(b, doc)
	for b.Loop() {
		_, err := Normalize(b.Context(), Input{Manifest: bytes.NewReader(doc)}, Options{}, func(events.Asset) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(peak)/float64(len(doc)), "peaklive/byte")
}

// peakLive normalizes doc once, sampling the live heap every few reads and
// emits, and returns its peak above the heap before the call.
func peakLive(b *testing.B, doc []byte) uint64 {
	b.Helper()
	var base, peak uint64
	sample := func() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if base == 0 {
			base = ms.HeapAlloc
		}
		peak = max(peak, ms.HeapAlloc-min(ms.HeapAlloc, base))
	}
	sample()
	r := &sampledReader{r: bytes.NewReader(doc), every: 8, sample: sample}
	n := 0
	_, err := Normalize(b.Context(), Input{Manifest: r}, Options{}, func(events.Asset) error {
		if n++; n%16 == 1 {
			sample()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return peak
}

// sampledReader calls sample every few reads.
type sampledReader struct {
	r      io.Reader
	n      int
	every  int
	sample func()
}

func (s *sampledReader) Read(p []byte) (int, error) {
	if s.n++; s.n%s.every == 0 {
		s.sample()
	}
	return s.r.Read(p)
}

// BenchmarkDecodeMap is the baseline: encoding/json into map[string]any.
func BenchmarkDecodeMap(b *testing.B) {
	doc := largestManifest(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			b.Fatal(err)
		}
	}
}
