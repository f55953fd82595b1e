package gen_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/normalize"
)

// benchSizes are the project sizes of BenchmarkNormalize: 1k and 10k models
// always; 50k (a manifest of about 1 GB, some 40 s to generate) only with
// HARVESTER_BENCH_LARGE=1 (make bench-large).
func benchSizes() []int {
	sizes := []int{1000, 10000}
	if os.Getenv("HARVESTER_BENCH_LARGE") == "1" {
		sizes = append(sizes, 50000)
	}
	return sizes
}

// BenchmarkNormalize compares, per generated project size, plain
// encoding/json decoding of manifest.json into map[string]any (the
// baseline) with a whole normalization: reading manifest, catalog and run
// results, joining them, building every asset and encoding it to JSON as the
// asset events carry it. Both report MB/s of manifest, allocations, and the
// peak heap above the pre-run baseline (peak-heap-MB, and heap/manifest, its
// ratio to the manifest's size). The paired sub-benchmark runs the two in
// turn, one of each per iteration, and reports the ratio of their summed
// times: on a machine whose speed drifts (a shared VM), the drift then
// falls on both alike. Each project is generated once per run, in a
// temporary directory; a parent benchmark with sub-benchmarks runs once.
func BenchmarkNormalize(b *testing.B) {
	for _, models := range benchSizes() {
		b.Run(fmt.Sprintf("models=%d", models), func(b *testing.B) {
			dir := b.TempDir()
			start := time.Now()
			sum, err := gen.Write(dir, gen.DefaultOptions(models))
			if err != nil {
				b.Fatal(err)
			}
			size := sum.Files["manifest.json"]
			b.Logf("generated %d models: manifest %.1f MB in %v", models, float64(size)/1e6, time.Since(start).Round(time.Millisecond))
			b.Run("decode-map", func(b *testing.B) { benchDecodeMap(b, dir, size) })
			b.Run("normalize", func(b *testing.B) { benchNormalize(b, dir, size) })
			b.Run("paired", func(b *testing.B) { benchPaired(b, dir, size) })
		})
	}
}

func benchDecodeMap(b *testing.B, dir string, size int64) {
	b.SetBytes(size)
	b.ReportAllocs()
	peak := startPeak()
	for b.Loop() {
		decodeMap(b, dir)
	}
	peak.report(b, size)
}

// decodeMap is the baseline: manifest.json decoded into a map[string]any.
func decodeMap(b *testing.B, dir string) {
	f, err := os.Open(filepath.Join(dir, events.ManifestJSON))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var m map[string]any
	if err := json.NewDecoder(f).Decode(&m); err != nil {
		b.Fatal(err)
	}
}

func benchNormalize(b *testing.B, dir string, size int64) {
	b.SetBytes(size)
	b.ReportAllocs()
	peak := startPeak()
	var encoded int64
	for b.Loop() {
		encoded = normalizeProject(b, dir)
	}
	peak.report(b, size)
	b.ReportMetric(float64(encoded)/1e6, "asset-MB")
}

// normalizeProject normalizes the project in dir as the normalizer service
// does, and returns the bytes of asset JSON it built.
func normalizeProject(b *testing.B, dir string) int64 {
	ref := events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 5}
	in, closeAll := openProject(b, dir)
	defer closeAll()
	var encoded int64
	_, err := normalize.JSON(b.Context(), in, normalize.Options{Ref: ref}, func(a normalize.Encoded) error {
		encoded += int64(len(a.JSON))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return encoded
}

// benchPaired runs the baseline and the normalizer in turn, each after a
// collection, and reports each one's MB/s and the ratio of their summed
// times.
func benchPaired(b *testing.B, dir string, size int64) {
	var base, norm time.Duration
	for b.Loop() {
		runtime.GC() // neither pays for the other's garbage
		start := time.Now()
		decodeMap(b, dir)
		base += time.Since(start)
		runtime.GC()
		start = time.Now()
		normalizeProject(b, dir)
		norm += time.Since(start)
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(base), "decode-map-MB/s")
	b.ReportMetric(mbps(norm), "normalize-MB/s")
	b.ReportMetric(base.Seconds()/norm.Seconds(), "ratio")
}

// openProject opens the generated artifacts as the harvester normalize
// command does, with a reopen func for the manifest.
func openProject(b testing.TB, dir string) (normalize.Input, func()) {
	var files []*os.File
	open := func(name string) io.Reader {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, f)
		return f // the normalizer buffers its reads
	}
	in := normalize.Input{
		Manifest: open(events.ManifestJSON),
		ReopenManifest: func() (io.ReadCloser, error) {
			f, err := os.Open(filepath.Join(dir, events.ManifestJSON))
			if err != nil {
				return nil, err
			}
			return f, nil
		},
		Catalog:    open(events.CatalogJSON),
		RunResults: open(events.RunResultsJSON),
		Sources:    open(events.SourcesJSON),
	}
	return in, func() {
		for _, f := range files {
			f.Close()
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakHeap samples the heap's object bytes (live and not yet swept) every
// half millisecond from a goroutine, after a runtime.GC() baseline.
type peakHeap struct {
	base uint64
	peak uint64
	cpu  time.Duration
	stop chan struct{}
	done sync.WaitGroup
}

const heapObjects = "/memory/classes/heap/objects:bytes"

func heapNow() uint64 {
	s := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startPeak() *peakHeap {
	runtime.GC()
	p := &peakHeap{base: heapNow(), stop: make(chan struct{}), cpu: cpuTime()}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(500 * time.Microsecond)
		defer t.Stop()
		for {
			p.peak = max(p.peak, heapNow())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// report stops the sampling and reports the peak above the baseline, and
// the throughput per second of CPU time the process used (GC and the
// sampler included).
func (p *peakHeap) report(b *testing.B, manifest int64) {
	cpu := cpuTime() - p.cpu
	close(p.stop)
	p.done.Wait()
	if cpu > 0 {
		// MB/s per CPU second: robust on a machine shared with other work.
		b.ReportMetric(float64(manifest)*float64(b.N)/1e6/cpu.Seconds(), "cpu-MB/s")
	}
	peak := p.peak - min(p.peak, p.base)
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
	b.ReportMetric(float64(peak)/float64(manifest), "heap/manifest")
}
