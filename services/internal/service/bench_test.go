package service_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/normalizer"
	"github.com/dbt-harvester/harvester/services/internal/publish"
	"github.com/dbt-harvester/harvester/services/internal/service"
	"github.com/dbt-harvester/harvester/services/internal/servicetest"
)

// harvestBenchSizes are BenchmarkHarvest's project sizes: 1k models always,
// 20k (a manifest of about 300 MB) only with HARVESTER_BENCH_LARGE=1.
func harvestBenchSizes() []int {
	sizes := []int{1000}
	if os.Getenv("HARVESTER_BENCH_LARGE") == "1" {
		sizes = append(sizes, 20000)
	}
	return sizes
}

// BenchmarkHarvest is `harvester serve` end to end, in process: a generated
// project served by the dbt Cloud simulator, one signed job.run.completed
// webhook, and the time until harvest.completed is stored on DBT_METADATA
// (e2e-s), with the embedded server's fsync-before-ack on (fsync=always, the
// default) and off (fsync=off, HARVESTER_NATS_SYNC=default). Each iteration
// is a fresh pipeline with an empty store (a first harvest: every asset new).
//
// It also reports the publish ratio: after the harvest, the same messages
// (every asset event, DBT_ASSETS put and OpenLineage event, in the order
// the normalizer published them, same sizes and headers) are published
// again with plain JetStream async publishing to copies of the three
// streams on the same server, and raw-msgs/s is compared with the
// normalizer's msgs/s, taken from the stored timestamps of its first asset
// event and its harvest event.
func BenchmarkHarvest(b *testing.B) {
	for _, models := range harvestBenchSizes() {
		b.Run(fmt.Sprintf("models=%d", models), func(b *testing.B) {
			dir := b.TempDir()
			start := time.Now()
			sum, err := gen.Write(dir, gen.DefaultOptions(models))
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("generated %d models: manifest %.1f MB in %v", models, float64(sum.Files["manifest.json"])/1e6,
				time.Since(start).Round(time.Millisecond))
			for _, fast := range []bool{false, true} {
				name := "fsync=always"
				if fast {
					name = "fsync=off"
				}
				b.Run(name, func(b *testing.B) { benchHarvest(b, dir, fast) })
			}
		})
	}
}

func benchHarvest(b *testing.B, dir string, fast bool) {
	var e2e, fetch, norm, ratio, normRate, rawRate, pathRate, pathRatio float64
	var assets int
	for b.Loop() {
		r := harvestOnce(b, dir, fast)
		e2e += r.e2e.Seconds()
		fetch += r.fetch.Seconds()
		norm += r.normalize.Seconds()
		normRate += r.normRate
		rawRate += r.rawRate
		ratio += r.normRate / r.rawRate
		pathRate += r.pathRate
		pathRatio += r.pathRate / r.rawRate
		assets = r.assets
	}
	n := float64(b.N)
	b.ReportMetric(e2e/n, "e2e-s")
	b.ReportMetric(fetch/n, "fetch-s")
	b.ReportMetric(norm/n, "normalize-s")
	b.ReportMetric(float64(assets), "assets")
	b.ReportMetric(normRate/n, "norm-msgs/s")
	b.ReportMetric(rawRate/n, "raw-msgs/s")
	b.ReportMetric(ratio/n, "publish-ratio")
	b.ReportMetric(pathRate/n, "path-msgs/s")
	b.ReportMetric(pathRatio/n, "path-ratio")
}

type harvestRun struct {
	e2e, fetch, normalize time.Duration
	assets                int
	normRate, rawRate     float64
	pathRate              float64
}

// harvestOnce starts a pipeline with a fresh store, delivers one webhook,
// waits for the harvest, then measures raw publishing on the same server.
func harvestOnce(b *testing.B, dir string, fast bool) harvestRun {
	store, err := os.MkdirTemp("", "harvest-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(store)
	var handler sync.Mutex // guards h
	var h http.Handler
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Lock()
		hh := h
		handler.Unlock()
		hh.ServeHTTP(w, r)
	}))
	defer api.Close()
	cfg := config.Config{
		Accounts:       []config.Account{{ID: 1, AccessURL: api.URL, Token: testToken}},
		WebhookSecrets: []config.Secret{testSecret},
	}
	cfg.NATS.StoreDir, cfg.NATS.FastSync = store, fast
	p := servicetest.Start(b, service.Options{Config: cfg})
	defer func() { _ = p.Stop() }()
	cloud, err := devcloud.New(devcloud.Config{Token: testToken, ArtifactsDir: dir, WebhookURL: p.HookURL,
		WebhookSecret: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	handler.Lock()
	h = cloud.Handler()
	handler.Unlock()

	start := time.Now()
	if _, err := cloud.Deliver(b.Context(), "job.run.completed"); err != nil {
		b.Fatal(err)
	}
	ev := p.NextHarvest(b, 10*time.Minute)
	e2e := time.Since(start)
	if ev.Type() != events.TypeHarvestCompleted {
		b.Fatalf("harvest ended with %s: %s", ev.Type(), ev.Data())
	}
	done, err := events.DataAs[events.HarvestCompleted](ev)
	if err != nil {
		b.Fatal(err)
	}
	r := harvestRun{e2e: e2e, assets: done.Assets, normalize: done.CompletedAt.Sub(done.StartedAt)}
	r.fetch = e2e - r.normalize
	r.normRate, r.rawRate, r.pathRate = publishRates(b, p.JS, done.Assets, !fast)
	return r
}

// publishRates reads back what the normalizer published (asset events on
// DBT_METADATA, puts on DBT_ASSETS, OpenLineage events on DBT_OPENLINEAGE)
// and its rate, from the stored time of its first asset event to that of
// its harvest event (norm: the normalizer's whole work in that window).
// Then it publishes copies of the same messages, in the same order, to
// copies of the three streams twice, and returns the three rates in msgs/s:
// raw, with plain JetStream async publishing (one wait at the end); path,
// through the normalizer's own publish path as a harvest uses it (one
// normalizer.Batch per stream: atomic batches when the server fsyncs each
// write, else a sliding window; the asset events' and puts' batches
// interleaved and awaited, then the OpenLineage events').
func publishRates(b *testing.B, js jetstream.JetStream, assets int, atomic bool) (norm, raw, path float64) {
	evs, first, last := readStream(b, js, events.StreamMetadata, assets+1)
	puts, _, _ := readStream(b, js, "KV_"+events.BucketAssets, assets)
	lineage, _, _ := readStream(b, js, events.StreamOpenLineage, -1)
	evs = evs[:len(evs)-1] // the harvest event
	n := len(evs) + len(puts) + len(lineage)
	norm = float64(n) / last.Sub(first).Seconds()

	ctx := b.Context()
	assetMsgs, lineageMsgs, _ := copies(b, js, "raw", evs, puts, lineage)
	start := time.Now()
	for _, m := range append(assetMsgs, lineageMsgs...) {
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Minute):
		b.Fatal("raw publishes not acknowledged in 10 minutes")
	}
	raw = float64(n) / time.Since(start).Seconds()

	assetMsgs, lineageMsgs, streamOf := copies(b, js, "path", evs, puts, lineage)
	nz := &normalizer.Normalizer{JS: js, Atomic: atomic}
	start = time.Now()
	for _, msgs := range [][]*nats.Msg{assetMsgs, lineageMsgs} {
		batches := map[string]*publish.Batch{}
		var order []*publish.Batch
		for _, m := range msgs {
			stream := streamOf(m)
			batch := batches[stream]
			if batch == nil {
				batch = nz.Batch(ctx, stream)
				batches[stream], order = batch, append(order, batch)
			}
			if err := batch.AddMsg(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		for _, batch := range order {
			if err := batch.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	path = float64(n) / time.Since(start).Seconds()
	return norm, raw, path
}

// copies creates copies BENCH_<TAG>_{EVENTS,KV,OL} of the three streams and
// returns copies of the messages, with subjects in them, in the order the
// normalizer published them (asset events and puts interleaved; then the
// OpenLineage events), and the stream of a copied message.
func copies(b *testing.B, js jetstream.JetStream, tag string, evs, puts, lineage []*nats.Msg) (assetMsgs, lineageMsgs []*nats.Msg, streamOf func(*nats.Msg) string) {
	streams := map[string]string{} // subject prefix -> stream
	prefix := func(from, name string) string {
		st, err := js.Stream(b.Context(), from)
		if err != nil {
			b.Fatal(err)
		}
		sc := st.CachedInfo().Config
		p := "bench." + tag + "." + name + "."
		sc.Name, sc.Subjects = strings.ToUpper("BENCH_"+tag+"_"+name), []string{p + ">"}
		if _, err := js.CreateStream(b.Context(), sc); err != nil {
			b.Fatal(err)
		}
		streams[p] = sc.Name
		return p
	}
	to := func(m *nats.Msg, p string) *nats.Msg {
		h := nats.Header{}
		for k, v := range m.Header {
			if !strings.HasPrefix(k, "Nats-Batch-") { // stored with the normalizer's atomic batches
				h[k] = append([]string(nil), v...)
			}
		}
		return &nats.Msg{Subject: p + m.Subject, Data: m.Data, Header: h}
	}
	pe, pk, pl := prefix(events.StreamMetadata, "events"), prefix("KV_"+events.BucketAssets, "kv"), prefix(events.StreamOpenLineage, "ol")
	for i := range max(len(evs), len(puts)) {
		if i < len(evs) {
			assetMsgs = append(assetMsgs, to(evs[i], pe))
		}
		if i < len(puts) {
			assetMsgs = append(assetMsgs, to(puts[i], pk))
		}
	}
	for _, m := range lineage {
		lineageMsgs = append(lineageMsgs, to(m, pl))
	}
	return assetMsgs, lineageMsgs, func(m *nats.Msg) string {
		for p, s := range streams {
			if strings.HasPrefix(m.Subject, p) {
				return s
			}
		}
		return ""
	}
}

// readStream reads want messages of a stream from its start (all it holds
// when want < 0), and the stored times of the first and the last.
func readStream(b *testing.B, js jetstream.JetStream, stream string, want int) (msgs []*nats.Msg, first, last time.Time) {
	if want < 0 {
		s, err := js.Stream(b.Context(), stream)
		if err != nil {
			b.Fatal(err)
		}
		want = int(s.CachedInfo().State.Msgs)
	}
	cons, err := js.OrderedConsumer(b.Context(), stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for len(msgs) < want {
		batch, err := cons.FetchNoWait(min(want-len(msgs), 1000))
		if err != nil {
			b.Fatal(err)
		}
		n := len(msgs)
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				b.Fatal(err)
			}
			if len(msgs) == 0 {
				first = md.Timestamp
			}
			last = md.Timestamp
			msgs = append(msgs, &nats.Msg{Subject: m.Subject(), Data: m.Data(), Header: m.Headers()})
		}
		if batch.Error() != nil {
			b.Fatal(batch.Error())
		}
		if len(msgs) == n {
			b.Fatalf("%s: %d messages, want %d", stream, n, want)
		}
	}
	return msgs, first, last
}

// BenchmarkReceiver loads the receiver of `harvester serve` (receiver role
// only, fsync on) over loopback with a bounded load generator: a fixed number
// of concurrent clients each POSTing signed job.run.started webhooks, each
// with its own eventId. In the same run and against the same server it loads
// a naive handler (echo, HMAC check, synchronous JetStream publish of the raw
// body) the same way; the two alternate per iteration.
func BenchmarkReceiver(b *testing.B) {
	const clients, requests = 16, 2000
	p := servicetest.Start(b, service.Options{Roles: service.Roles{Receiver: true},
		Config: config.Config{WebhookSecrets: []config.Secret{testSecret}}})
	naive := httptest.NewServer(naiveHandler(p.JS, []byte(testSecret)))
	defer naive.Close()
	var recvRate, recvP99, naiveRate, naiveP99 float64
	run := 0
	for b.Loop() {
		run++
		rate, p99 := loadWebhooks(b, p.HookURL, clients, requests, fmt.Sprintf("r%d", run))
		recvRate, recvP99 = recvRate+rate, recvP99+p99.Seconds()*1e3
		rate, p99 = loadWebhooks(b, naive.URL+"/webhooks/dbt-cloud", clients, requests, fmt.Sprintf("n%d", run))
		naiveRate, naiveP99 = naiveRate+rate, naiveP99+p99.Seconds()*1e3
	}
	n := float64(b.N)
	b.ReportMetric(recvRate/n, "receiver-req/s")
	b.ReportMetric(recvP99/n, "receiver-p99-ms")
	b.ReportMetric(naiveRate/n, "naive-req/s")
	b.ReportMetric(naiveP99/n, "naive-p99-ms")
}

// naiveHandler is the floor a webhook receiver can hope for: read the body,
// check its HMAC, publish it as it is and wait for the ack.
func naiveHandler(js jetstream.JetStream, secret []byte) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhooks/dbt-cloud", func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest)
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		got, err := hex.DecodeString(c.Request().Header.Get("Authorization"))
		if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
			return echo.NewHTTPError(http.StatusUnauthorized)
		}
		if _, err := js.Publish(c.Request().Context(), "dbt.run.1.100.200.300.started", body); err != nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable)
		}
		return c.NoContent(http.StatusAccepted)
	})
	return e
}

// loadWebhooks POSTs requests signed webhooks from clients goroutines and
// returns the requests per second and the 99th percentile latency.
func loadWebhooks(b *testing.B, url string, clients, requests int, tag string) (float64, time.Duration) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	lat := make([]time.Duration, requests)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for i := range next {
				body := fmt.Sprintf(`{"accountId":1,"webhookId":"wsu_1","eventId":"wev_%s_%d","timestamp":"2026-03-02T06:00:09.4312Z","eventType":"job.run.started","webhookName":"h","data":{"jobId":"300","jobName":"Nightly","runId":"%d","environmentId":"200","environmentName":"Prod","dbtVersion":"1.9.4","projectName":"P","projectId":"100","runStatus":"Running","runStatusCode":3,"runReason":"scheduler","runStartedAt":"2026-03-02T06:00:00Z"}}`, tag, i, 1000+i)
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Authorization", devcloud.Sign(testSecret, []byte(body)))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("%s: status %d", url, resp.StatusCode)
				}
			}
		})
	}
	for i := range requests {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return float64(requests) / elapsed.Seconds(), lat[requests*99/100]
}
