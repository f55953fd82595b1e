package openlineage

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/consume"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/publish"
	"github.com/dbt-harvester/harvester/services/internal/retry"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// downFor is how long TestTransportBackendDown keeps the backend down: a
// minute in the words (go test -run BackendDown -openlineage.down=1m),
// a few seconds by default so that the suite stays fast.
var downFor = flag.Duration("openlineage.down", 3*time.Second, "how long the lineage backend refuses connections in TestTransportBackendDown")

func TestPostClassifies(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    string
		wantErr   bool
		permanent bool
		after     time.Duration
	}{
		{"created", http.StatusCreated, "", false, false, 0},
		{"ok", http.StatusOK, "", false, false, 0},
		{"bad event", http.StatusBadRequest, "", true, true, 0},
		{"unprocessable", http.StatusUnprocessableEntity, "", true, true, 0},
		{"server error", http.StatusInternalServerError, "", true, false, 0},
		{"unauthorized, retried until the key is fixed", http.StatusUnauthorized, "", true, false, 0},
		{"rate limited", http.StatusTooManyRequests, "7", true, false, 7 * time.Second},
		{"unavailable", http.StatusServiceUnavailable, "2", true, false, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotAuth, gotPath, gotType string
			var gotBody []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth, gotPath, gotType = r.Header.Get("Authorization"), r.URL.Path, r.Header.Get("Content-Type")
				gotBody, _ = io.ReadAll(r.Body)
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, "backend says hi")
			}))
			defer srv.Close()
			tr := &Transport{URL: srv.URL, APIKey: "s3cret-key"}
			err := tr.Post(t.Context(), []byte(`{"eventType":"START"}`))
			if gotAuth != "Bearer s3cret-key" || gotPath != LineagePath || gotType != "application/json" || string(gotBody) != `{"eventType":"START"}` {
				t.Errorf("request: auth %q path %q type %q body %s", gotAuth, gotPath, gotType, gotBody)
			}
			if (err != nil) != tt.wantErr || retry.IsPermanent(err) != tt.permanent {
				t.Fatalf("Post = %v, want error %v permanent %v", err, tt.wantErr, tt.permanent)
			}
			if d, ok := retry.Delay(err); tt.after != 0 && (!ok || d != tt.after) {
				t.Errorf("Post delay = %v %v, want %v", d, ok, tt.after)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the API key", err)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	for raw, want := range map[string]string{
		"http://marquez:5000":                          "http://marquez:5000/api/v1/lineage",
		"http://marquez:5000/":                         "http://marquez:5000/api/v1/lineage",
		"https://lineage.example.com/api/v1/lineage":   "https://lineage.example.com/api/v1/lineage",
		"https://x.example.com/openlineage/ingest?t=1": "https://x.example.com/openlineage/ingest?t=1",
		"marquez:5000":                                 "",
		"ftp://marquez":                                "",
		"https://u:p@marquez":                          "",
	} {
		got, err := (&Transport{URL: raw}).Endpoint()
		if got != want || (err != nil) != (want == "") {
			t.Errorf("Endpoint(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	if s := (&Transport{URL: "https://x.example.com/ingest?token=abc"}).Shown(); strings.Contains(s, "abc") {
		t.Errorf("Shown = %q, shows the query", s)
	}
}

// backend is a lineage backend that records the RunEvents it accepted.
type backend struct {
	mu       sync.Mutex
	got      []RunEvent
	failNext int // answer 500 to this many more requests
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failNext > 0 {
		b.failNext--
		http.Error(w, "warming up", http.StatusInternalServerError)
		return
	}
	var ev RunEvent
	if r.URL.Path != LineagePath || json.Unmarshal(body, &ev) != nil {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	b.got = append(b.got, ev)
	w.WriteHeader(http.StatusCreated)
}

func (b *backend) received() []RunEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// pipeline is DBT_OPENLINEAGE with the HTTP consumer, and the harvest's
// events published on it.
func pipeline(t *testing.T) (jetstream.JetStream, []RunEvent) {
	t.Helper()
	_, js := natstest.Run(t)
	if err := topology.Ensure(t.Context(), js, topology.Config{OpenLineageHTTP: true}); err != nil {
		t.Fatal(err)
	}
	var want []RunEvent
	for _, gen := range []int{1, 2} { // two harvests of the run: a replay
		h := smallHarvest()
		h.Generation = gen
		evs, _ := Build(h, collect(smallProject()), smallOptions)
		ces, _, err := CloudEvents(h.Run.RunRef, gen, evs, events.Trace{})
		if err != nil {
			t.Fatal(err)
		}
		for i, ce := range ces {
			for range 2 { // a retried publish is absorbed
				if _, err := publish.Event(t.Context(), js, ce); err != nil {
					t.Fatal(err)
				}
			}
			want = append(want, evs[i].RunEvent)
		}
	}
	return js, want
}

// runTransport consumes DBT_OPENLINEAGE into tr until the test ends.
func runTransport(t *testing.T, js jetstream.JetStream, tr *Transport) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	cons, err := js.Consumer(ctx, events.StreamOpenLineage, topology.DurableOpenLineageHTTP)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- consume.Run(ctx, cons, tr.Handle, consume.Options{MaxDeliver: math.MaxInt32, AckWait: 5 * time.Second,
			BaseBackoff: 20 * time.Millisecond, MaxBackoff: 250 * time.Millisecond})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consume.Run: %v", err)
		}
	})
}

func waitFor(t *testing.T, b *backend, n int, limit time.Duration) []RunEvent {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := b.received()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sameEvents(t *testing.T, got, want []RunEvent) {
	t.Helper()
	key := func(e RunEvent) string { return e.Run.RunID + " " + e.EventType + " " + e.Job.Name }
	var g, w []string
	for _, e := range got {
		g = append(g, key(e))
	}
	for _, e := range want {
		w = append(w, key(e))
	}
	if !slices.Equal(g, w) {
		t.Errorf("the backend received %d events:\n%s\nwant %d, in this order:\n%s", len(g), strings.Join(g, "\n"), len(w), strings.Join(w, "\n"))
	}
}

// TestTransportDeliversInOrder: a real HTTP server receives every event of
// the stream once, in order, with the API key.
func TestTransportDeliversInOrder(t *testing.T) {
	js, want := pipeline(t)
	b := &backend{}
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		b.ServeHTTP(w, r)
	}))
	defer srv.Close()
	runTransport(t, js, &Transport{URL: srv.URL, APIKey: "k"})
	sameEvents(t, waitFor(t, b, len(want), 30*time.Second), want)
	if a, _ := auth.Load().(string); a != "Bearer k" {
		t.Errorf("Authorization = %q, want Bearer k", a)
	}
}

// countingTransport counts failed round trips (connections refused).
type countingTransport struct{ failed atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		c.failed.Add(1)
	}
	return resp, err
}

// TestTransportBackendDown: the backend refuses connections for downFor
// (its port is closed), then comes up and answers 500 a few times; every
// event arrives after, once and in order.
func TestTransportBackendDown(t *testing.T) {
	js, want := pipeline(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // down: connections are refused
	rt := &countingTransport{}
	runTransport(t, js, &Transport{URL: "http://" + addr, Client: &http.Client{Transport: rt, Timeout: 5 * time.Second}})
	b := &backend{failNext: 3}
	time.Sleep(*downFor)
	if got := b.received(); len(got) != 0 {
		t.Fatalf("received %d events while down", len(got))
	}
	refused := rt.failed.Load()
	if refused < 2 {
		t.Errorf("%d refused attempts while the backend was down for %v, want retries", refused, *downFor)
	}
	var up net.Listener
	for i := 0; ; i++ { // the port was free a moment ago; another process may hold it briefly
		if up, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("bring the backend up on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(b)
	srv.Listener.Close()
	srv.Listener = up
	srv.Start()
	defer srv.Close()
	sameEvents(t, waitFor(t, b, len(want), 30*time.Second+*downFor), want)
	t.Logf("%d connection attempts refused in %v of downtime; then 3 answers of 500", refused, *downFor)
}

// TestTransportDropsRejected: an event the backend rejects as invalid (400)
// is terminated, and the next ones go on.
func TestTransportDropsRejected(t *testing.T) {
	js, want := pipeline(t)
	var calls atomic.Int32
	b := &backend{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 {
			http.Error(w, "invalid event", http.StatusBadRequest)
			return
		}
		b.ServeHTTP(w, r)
	}))
	defer srv.Close()
	runTransport(t, js, &Transport{URL: srv.URL})
	sameEvents(t, waitFor(t, b, len(want)-1, 30*time.Second), slices.Delete(slices.Clone(want), 1, 2))
}

func TestHandleRejectsOtherEvents(t *testing.T) {
	m, err := events.NewHarvestFailed(events.HarvestFailed{Run: events.RunFacts{RunRef: events.RunRef{AccountID: 1}}, Generation: 1}, events.Trace{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := events.Encode(m.Event)
	err = (&Transport{URL: "http://127.0.0.1:1"}).Handle(t.Context(), fakeMsg{data: data})
	if !retry.IsPermanent(err) {
		t.Errorf("Handle(harvest.failed) = %v, want permanent", err)
	}
	if err := (&Transport{URL: "http://127.0.0.1:1"}).Handle(t.Context(), fakeMsg{data: []byte("{")}); !retry.IsPermanent(err) {
		t.Errorf("Handle(garbage) = %v, want permanent", err)
	}
}

// fakeMsg is a jetstream.Msg carrying data, for Handle's decoding only.
type fakeMsg struct {
	jetstream.Msg
	data []byte
}

func (m fakeMsg) Data() []byte { return m.data }
