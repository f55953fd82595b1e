package normalizer

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// emptyReads returns no data and no error its first n reads, then reads r.
type emptyReads struct {
	n int
	r io.Reader
}

func (e *emptyReads) Read(p []byte) (int, error) {
	if e.n != 0 {
		e.n--
		return 0, nil
	}
	return e.r.Read(p)
}

func (e *emptyReads) Close() error { return nil }

// TestStallGuard: a read that makes no progress for the limit fails with a
// transient error, as the object store's reader does not when the chunks it
// waits for were purged; reads that pause and go on are passed through.
func TestStallGuard(t *testing.T) {
	g := &stallGuard{ReadCloser: &emptyReads{n: 3, r: strings.NewReader("{}")}, key: "k", limit: time.Second}
	if b, err := io.ReadAll(g); err != nil || string(b) != "{}" {
		t.Errorf("read after a pause = %q, %v; want {}", b, err)
	}
	g = &stallGuard{ReadCloser: &emptyReads{n: -1}, key: "1/400/5/manifest.json", limit: 50 * time.Millisecond}
	start := time.Now()
	_, err := io.ReadAll(g)
	if !errors.Is(err, errStalled) || retry.IsPermanent(err) || !strings.Contains(err.Error(), "1/400/5/manifest.json") {
		t.Errorf("stalled read = %v, want a transient errStalled naming the object", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Errorf("stalled read gave up after %v, want about the limit", d)
	}
}
