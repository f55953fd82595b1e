package fetcher

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/consume"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/receiver"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

const (
	testToken  = "fetch-test-token"
	testSecret = "fetch-test-secret"
	maxDeliver = 4
)

// legacyRef is the run of devcloud's single-run Config.
var legacyRef = events.RunRef{AccountID: 1, ProjectID: 100, EnvironmentID: 200, JobID: 300, RunID: 400}

// hit is one request the simulator answered.
type hit struct {
	at     time.Time
	path   string
	query  string
	status int
}

// harness is the fetcher consuming DBT_RUNS of a real in-process NATS,
// the receiver taking webhooks, and the simulator behind a recorder.
type harness struct {
	js    jetstream.JetStream
	cloud *devcloud.Server
	api   *httptest.Server
	hook  string
	dir   string // the legacy run's artifacts
	f     *Fetcher

	mu      sync.Mutex
	hits    []hit
	stall   map[string]int // path substring -> requests still to stall
	started chan string    // the path of every request as it starts
}

// downloading returns a channel closed once a request for name starts.
func (h *harness) downloading(name string) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		for p := range h.started {
			if strings.HasSuffix(p, name) {
				close(c)
				return
			}
		}
	}()
	return c
}

type harnessOpts struct {
	cloud      devcloud.Config
	client     dbtcloud.Options // AccessURL, AccountID and Token are filled in when empty
	accounts   []config.Account // filters
	noConsumer bool
	notReady   time.Duration // Fetcher.NotReadyDelay; default 300ms
	dir        string        // the legacy run's artifacts; default 8 generated models
}

func artifactsDir(t testing.TB, models int, mutate func(*gen.Options)) string {
	t.Helper()
	dir := t.TempDir()
	opts := gen.DefaultOptions(models)
	if mutate != nil {
		mutate(&opts)
	}
	if _, err := gen.Write(dir, opts); err != nil {
		t.Fatalf("gen.Write: %v", err)
	}
	return dir
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	conn, _ := natstest.Run(t)
	return newHarnessOn(t, conn, o)
}

// newHarnessOn is newHarness on an existing NATS server.
func newHarnessOn(t testing.TB, conn *natsconn.Conn, o harnessOpts) *harness {
	t.Helper()
	ctx := t.Context()
	js, err := jetstream.New(conn.NC)
	if err != nil {
		t.Fatal(err)
	}
	topo := topology.Config{FetcherMaxDeliver: maxDeliver, FetcherAckWait: 5 * time.Second}
	if err := topology.Ensure(ctx, js, topo); err != nil {
		t.Fatalf("topology.Ensure: %v", err)
	}
	h := &harness{js: js, stall: map[string]int{}, started: make(chan string, 256)}
	recv := httptest.NewServer((&receiver.Receiver{Secrets: [][]byte{[]byte(testSecret)}, JS: js}).Handler())
	t.Cleanup(recv.Close)
	h.hook = recv.URL + dbtcloud.WebhookPath

	cfg := o.cloud
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if cfg.ArtifactsDir == "" {
		cfg.ArtifactsDir = o.dir
	}
	if cfg.ArtifactsDir == "" && len(cfg.Accounts) == 0 {
		cfg.ArtifactsDir = artifactsDir(t, 8, nil)
	}
	h.dir = cfg.ArtifactsDir
	cloud, err := devcloud.New(cfg)
	if err != nil {
		t.Fatalf("devcloud.New: %v", err)
	}
	h.cloud = cloud
	h.api = httptest.NewServer(h.record(cloud.Handler()))
	t.Cleanup(h.api.Close)

	store, err := js.ObjectStore(ctx, events.BucketArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	opts := o.client
	if opts.AccessURL == "" {
		opts.AccessURL = h.api.URL
	}
	if opts.AccountID == 0 {
		opts.AccountID = 1
	}
	if opts.Token == "" {
		opts.Token = testToken
	}
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = 20 * time.Millisecond
	}
	client, err := dbtcloud.New(opts)
	if err != nil {
		t.Fatalf("dbtcloud.New: %v", err)
	}
	h.f = &Fetcher{JS: js, Store: store, Ledger: l, Clients: map[int64]*dbtcloud.Client{opts.AccountID: client},
		Accounts: map[int64]config.Account{}, NotReadyDelay: cmp.Or(o.notReady, 300*time.Millisecond)}
	for _, a := range o.accounts {
		h.f.Accounts[a.ID] = a
	}
	if !o.noConsumer {
		h.consume(t)
	}
	return h
}

// consume runs the fetcher on the durable consumer as the service does.
func (h *harness) consume(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := h.js.Consumer(ctx, events.StreamRuns, topology.DurableFetcher)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- consume.Run(ctx, cons, h.f.Handle, consume.Options{MaxDeliver: maxDeliver, AckWait: 5 * time.Second,
			BaseBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, OnGiveUp: h.f.GiveUp})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consume.Run = %v", err)
		}
	})
}

// record logs every request and its status, and stalls requests on demand.
func (h *harness) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		stall := false
		for k, n := range h.stall {
			if n > 0 && strings.Contains(r.URL.Path, k) {
				h.stall[k], stall = n-1, true
				break
			}
		}
		h.mu.Unlock()
		select {
		case h.started <- r.URL.Path:
		default:
		}
		if stall {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		at := time.Now()
		defer func() {
			h.mu.Lock()
			h.hits = append(h.hits, hit{at, r.URL.Path, r.URL.RawQuery, rec.status})
			h.mu.Unlock()
		}()
		next.ServeHTTP(rec, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (h *harness) requests() []hit {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hit(nil), h.hits...)
}

func (h *harness) count(pathPart string, status int) int {
	n := 0
	for _, r := range h.requests() {
		if strings.Contains(r.path, pathPart) && r.status == status {
			n++
		}
	}
	return n
}

// complete posts a signed job.run.completed webhook for ref to the receiver.
func (h *harness) complete(t *testing.T, ref events.RunRef, jobName string) {
	t.Helper()
	body := fmt.Sprintf(`{"accountId":%d,"webhookId":"wsu_test","eventId":"wev_%d_%d","timestamp":"2026-03-02T06:14:51.1Z",`+
		`"eventType":"job.run.completed","webhookName":"t","data":{"jobId":"%d","jobName":%q,"runId":"%d","environmentId":"%d",`+
		`"environmentName":"Production","projectName":"analytics","projectId":"%d","runStatus":"Success","runStatusCode":10}}`,
		ref.AccountID, ref.AccountID, ref.RunID, ref.JobID, jobName, ref.RunID, ref.EnvironmentID, ref.ProjectID)
	req, _ := http.NewRequest(http.MethodPost, h.hook, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", receiver.Sign([]byte(testSecret), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST webhook: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST webhook = %d, want 202", resp.StatusCode)
	}
}

// outcome waits for the run's artifacts event or harvest.failed event.
func (h *harness) outcome(t *testing.T, ref events.RunRef, within time.Duration) (*events.ArtifactsFetched, *events.HarvestFailed) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if b := h.last(t, events.StreamArtifacts, events.ArtifactsSubject(ref)); b != nil {
			ev, err := events.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			a, err := events.DataAs[events.ArtifactsFetched](ev)
			if err != nil {
				t.Fatal(err)
			}
			if a.Run.RunID == ref.RunID {
				return &a, nil
			}
		}
		if b := h.last(t, events.StreamMetadata, events.HarvestSubject(ref)); b != nil {
			ev, err := events.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			hf, err := events.DataAs[events.HarvestFailed](ev)
			if err != nil {
				t.Fatal(err)
			}
			if hf.Run.RunID == ref.RunID {
				return nil, &hf
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no artifacts or harvest.failed event for run %d within %s; requests: %v", ref.RunID, within, h.requests())
	return nil, nil
}

func (h *harness) last(t *testing.T, stream, subject string) []byte {
	t.Helper()
	s, err := h.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(t.Context(), subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return m.Data
}

func (h *harness) msgs(t *testing.T, stream string) uint64 {
	t.Helper()
	s, err := h.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// object reads a stored object and decodes it.
func (h *harness) object(t *testing.T, key string, v any) {
	t.Helper()
	b, err := h.f.Store.GetBytes(t.Context(), key)
	if err != nil {
		t.Fatalf("object %s: %v", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("object %s: %v", key, err)
	}
}

func stored(a *events.ArtifactsFetched, name string) []events.StoredArtifact {
	var out []events.StoredArtifact
	for _, s := range a.Artifacts {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// dialTo is an HTTP client that sends every request, whatever its host, to addr.
func dialTo(addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
}
