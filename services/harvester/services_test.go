package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/proc"
)

// The receiver, fetcher and normalizer binaries, each its own process against
// one NATS server, harvest a run together and stop cleanly on SIGTERM.
func TestSeparateServiceBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three binaries")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(os.PathSeparator),
		"github.com/dbt-harvester/harvester/services/receiver",
		"github.com/dbt-harvester/harvester/services/fetcher",
		"github.com/dbt-harvester/harvester/services/normalizer")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	conn, js := natstest.Run(t)

	dir := t.TempDir()
	sum, err := gen.Write(dir, gen.DefaultOptions(10))
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, n := range sum.Counts {
		want += n
	}
	const token, secret = "svc-token", "svc-secret"
	port := freePort(t)
	hookURL := "http://127.0.0.1:" + port + "/webhooks/dbt-cloud"
	cloud, err := devcloud.New(devcloud.Config{Token: token, ArtifactsDir: dir, WebhookURL: hookURL, WebhookSecret: secret,
		WebhookBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(cloud.Handler())
	defer api.Close()

	env := append(os.Environ(), "NATS_URL="+conn.ClientURL(), "DBT_CLOUD_ACCESS_URL="+api.URL, "DBT_CLOUD_ACCOUNT_ID=1",
		"DBT_CLOUD_API_TOKEN="+token, "DBT_CLOUD_WEBHOOK_SECRET="+secret, "HARVESTER_HTTP_ADDR=127.0.0.1:"+port,
		// The simulator's run finished minutes before its webhook, so the
		// fetcher's reconciler would fetch it too, racing the webhook
		// (absorbed, but it can cost the harvest a 30 s stall and a retry);
		// TestReconcilerInServe covers the reconciler.
		"HARVESTER_RECONCILE_INTERVAL=0")
	var procs []*exec.Cmd
	ports, err := proc.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := map[string]string{"receiver": "127.0.0.1:" + port, "fetcher": "127.0.0.1:" + ports[0], "normalizer": "127.0.0.1:" + ports[1]}
	for _, name := range []string{"receiver", "fetcher", "normalizer"} {
		cmd := exec.Command(filepath.Join(bin, name))
		cmd.Env = env
		if name != "receiver" { // the receiver serves /metrics on its own port
			cmd.Env = append(env, "HARVESTER_METRICS_ADDR="+metricsAddr[name])
		}
		cmd.Stderr = &testLog{t: t, name: name}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		procs = append(procs, cmd)
	}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}()
	for _, addr := range metricsAddr {
		waitHTTP(t, "http://"+addr+"/readyz")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := cloud.Deliver(ctx, "job.run.completed"); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	cons, err := js.OrderedConsumer(ctx, events.StreamMetadata, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"dbt.metadata.*.*.*.harvest"}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(45 * time.Second))
	if err != nil {
		t.Fatalf("no harvest event: %v", err)
	}
	ev, err := events.Decode(msg.Data())
	if err != nil {
		t.Fatal(err)
	}
	done, err := events.DataAs[events.HarvestCompleted](ev)
	if err != nil || ev.Type() != events.TypeHarvestCompleted || done.Assets != want {
		t.Fatalf("harvest event %s with %d assets (%v), want %s with %d", ev.Type(), done.Assets, err, events.TypeHarvestCompleted, want)
	}
	checkServiceMetrics(t, metricsAddr, want)
	for _, p := range procs {
		if err := p.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		errc := make(chan error, 1)
		go func() { errc <- p.Wait() }()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("%s exited with %v after SIGTERM, want 0", p.Path, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop within 20s of SIGTERM", p.Path)
		}
	}
	procs = nil
}

func freePort(t *testing.T) string {
	t.Helper()
	ports, err := proc.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 30s", url)
}

// testLog sends a child's log lines to the test log.
type testLog struct {
	t    *testing.T
	name string
}

func (l *testLog) Write(p []byte) (int, error) {
	l.t.Logf("%s: %s", l.name, p)
	return len(p), nil
}

// checkServiceMetrics scrapes each service's /metrics after one harvest:
// each counts its own part.
func checkServiceMetrics(t *testing.T, addr map[string]string, assets int) {
	t.Helper()
	scrape := func(service, series string) float64 {
		resp, err := http.Get("http://" + addr[service] + "/metrics")
		if err != nil {
			t.Fatalf("scrape %s: %v", service, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		total := 0.0
		for _, line := range strings.Split(string(b), "\n") {
			i := strings.LastIndexByte(line, ' ') // label values may hold spaces
			if name := line[:max(i, 0)]; i > 0 && (name == series || strings.HasPrefix(name, series+"{")) {
				v, _ := strconv.ParseFloat(line[i+1:], 64)
				total += v
			}
		}
		return total
	}
	checks := []struct {
		service, series string
		ok              func(float64) bool
		want            string
	}{
		{"receiver", `harvester_webhooks_total{outcome="accepted"}`, func(v float64) bool { return v == 1 }, "1"},
		{"normalizer", `harvester_harvests_total{outcome="completed"}`, func(v float64) bool { return v == 1 }, "1"},
		{"normalizer", "harvester_assets_published_total", func(v float64) bool { return v == float64(assets) }, strconv.Itoa(assets)},
		{"normalizer", "harvester_harvest_duration_seconds_count", func(v float64) bool { return v == 1 }, "1"},
		{"fetcher", "harvester_artifact_bytes_total", func(v float64) bool { return v > 0 }, "the bytes stored"},
		{"fetcher", `harvester_dbt_api_requests_total{code="200",endpoint="GET /api/v2/accounts/{id}/runs/{id}"}`, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"fetcher", `harvester_consumer_pending{consumer="fetcher"}`, func(v float64) bool { return v == 0 }, "0"},
		{"normalizer", `harvester_consumer_pending{consumer="normalizer"}`, func(v float64) bool { return v == 0 }, "0"},
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range checks {
		got := scrape(c.service, c.series)
		for !c.ok(got) && time.Now().Before(deadline) { // the normalizer counts a moment after the harvest event is stored
			time.Sleep(50 * time.Millisecond)
			got = scrape(c.service, c.series)
		}
		if !c.ok(got) {
			t.Errorf("%s: %s = %v, want %s", c.service, c.series, got, c.want)
		}
	}
}
