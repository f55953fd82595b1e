package normalizer

import (
	"errors"
	"io"
	"strings"
	"sync"
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

// blockedRead blocks in Read until released, holding a lock that Close
// needs too, as the object store's reader does when its chunks were purged.
type blockedRead struct {
	mu      sync.Mutex
	release chan struct{}
}

func (b *blockedRead) Read([]byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	<-b.release
	return 0, io.EOF
}

func (b *blockedRead) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return nil
}

// A read that blocks is given up after the limit (found by make chaos: a
// normalizer stuck for good on an object replaced under it), and Close
// does not wait for it.
func TestStallGuardBlockedRead(t *testing.T) {
	b := &blockedRead{release: make(chan struct{})}
	defer close(b.release)
	g := &stallGuard{ReadCloser: b, key: "1/400/5/manifest.json", limit: 100 * time.Millisecond}
	done := make(chan error, 1)
	go func() {
		_, err := g.Read(make([]byte, 8))
		if err == nil {
			err = g.Close()
		} else if cerr := g.Close(); cerr != nil {
			err = cerr
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errStalled) {
			t.Errorf("Read = %v, want errStalled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked read was not given up within 5s")
	}
	if _, err := g.Read(make([]byte, 8)); !errors.Is(err, errStalled) {
		t.Errorf("Read after a stuck read = %v, want errStalled", err)
	}
}
