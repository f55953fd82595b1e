package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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
	for _, name := range []string{"receiver", "fetcher", "normalizer"} {
		cmd := exec.Command(filepath.Join(bin, name))
		cmd.Env = env
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
	waitHTTP(t, "http://127.0.0.1:"+port+"/readyz")

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
