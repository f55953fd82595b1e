package fetcher

import (
	"context"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
)

// discardSink reads every artifact to its end and keeps nothing.
type discardSink struct{ n atomic.Int64 }

func (s *discardSink) Put(_ context.Context, _, _ string, r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	s.n.Add(n)
	return err
}

// peakHeap runs fn while sampling the heap, and returns the largest heap in
// use above what was in use before.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load()
}

// A large manifest downloads through the check with bounded memory: the heap
// grows by a small fraction of the file, not by the file.
func TestLargeManifestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a large project")
	}
	models, minSize := 2000, int64(20<<20) // about 38 MB
	if raceEnabled {
		models, minSize = 400, 5<<20
	}
	h := newHarness(t, harnessOpts{noConsumer: true, dir: artifactsDir(t, models, nil)})
	sink := &discardSink{}
	var out events.ArtifactsFetched
	var err error
	peak := peakHeap(func() { out, err = h.f.Download(t.Context(), Request{Ref: legacyRef}, sink) })
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	m := stored(&out, events.ManifestJSON)[0]
	t.Logf("downloaded %d bytes in total (manifest %d MB); peak heap growth %d KB", sink.n.Load(), m.Size>>20, peak>>10)
	if m.Size < minSize {
		t.Fatalf("manifest is %d bytes, want a large one", m.Size)
	}
	if limit := uint64(m.Size / 4); peak > limit {
		t.Errorf("peak heap growth %d MB while downloading a %d MB manifest, want under %d MB", peak>>20, m.Size>>20, limit>>20)
	}
}

// BenchmarkDownloadLargeManifest reports the download rate through the
// check and the peak heap growth per download of a 2,000-model project.
func BenchmarkDownloadLargeManifest(b *testing.B) {
	h := newHarness(b, harnessOpts{noConsumer: true, dir: artifactsDir(b, 2000, nil)})
	var peak, bytes uint64
	for b.Loop() {
		sink := &discardSink{}
		p := peakHeap(func() {
			if _, err := h.f.Download(b.Context(), Request{Ref: legacyRef}, sink); err != nil {
				b.Fatal(err)
			}
		})
		peak, bytes = max(peak, p), uint64(sink.n.Load())
	}
	b.SetBytes(int64(bytes))
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}
