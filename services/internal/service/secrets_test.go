package service_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
)

// lockedBuffer collects log lines from every goroutine of a pipeline.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// noSecrets fails when any secret appears in a line the pipeline logged
// (debug included) or in any message its streams hold.
func noSecrets(t *testing.T, p *pipeline, secrets ...string) {
	t.Helper()
	logs := p.logs.String()
	if strings.Count(logs, "\n") < 5 {
		t.Fatalf("only %d log lines were captured: the scan would prove nothing", strings.Count(logs, "\n"))
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain secret %q", s)
		}
	}
	scanned := 0
	for _, name := range []string{events.StreamRuns, events.StreamArtifacts, events.StreamMetadata, events.StreamOpenLineage} {
		cons, err := p.js.OrderedConsumer(t.Context(), name, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		for {
			msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
			if errors.Is(err, jetstream.ErrNoMessages) {
				break
			}
			if err != nil {
				break
			}
			scanned++
			whole := string(msg.Data()) + fmtHeaders(msg)
			for _, s := range secrets {
				if strings.Contains(whole, s) {
					t.Errorf("a message on %s (%s) contains secret %q", name, msg.Subject(), s)
				}
			}
			if meta, err := msg.Metadata(); err == nil && meta.NumPending == 0 {
				break
			}
		}
	}
	if scanned == 0 {
		t.Fatal("no message scanned")
	}
	t.Logf("scanned %d log bytes and %d messages: no secret", len(logs), scanned)
}

func fmtHeaders(msg jetstream.Msg) string {
	var b strings.Builder
	for k, vs := range msg.Headers() {
		b.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	return b.String()
}
