package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/service"
	"github.com/dbt-harvester/harvester/services/internal/servicetest"
)

// pipeline is a running harvester (service.Run with embedded NATS) and a
// dbt Cloud simulator whose world can be swapped between cases.
type pipeline struct {
	api     *httptest.Server
	handler atomic.Pointer[http.Handler]
	natsURL string
	hookURL string // the receiver's webhook URL ("" without the receiver)
	js      jetstream.JetStream
	cloud   *devcloud.Server
	getRuns sync.Map // run path -> *atomic.Int64: GETs of each run
}

// newCloud starts the simulator's HTTP server, with no world yet (setWorld).
func newCloud(t *testing.T) *pipeline {
	t.Helper()
	p := &pipeline{}
	p.api = httptest.NewServer(http.HandlerFunc(p.serveAPI))
	t.Cleanup(p.api.Close)
	return p
}

// startPipeline starts the simulator's server and the roles against it.
func startPipeline(t *testing.T, roles service.Roles) *pipeline {
	t.Helper()
	p := newCloud(t)
	sp := servicetest.Start(t, service.Options{Roles: roles, Config: config.Config{
		Accounts:       []config.Account{{ID: 1, AccessURL: p.api.URL, Token: testToken}},
		WebhookSecrets: []config.Secret{testSecret},
	}})
	p.natsURL, p.hookURL, p.js = sp.Info.NATSURL, sp.HookURL, sp.JS
	return p
}

// serveAPI counts run GETs and hands the request to the current world.
func (p *pipeline) serveAPI(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/v2/accounts/1/runs/"); ok && strings.Count(rest, "/") == 1 && rest != "/" {
		n, _ := p.getRuns.LoadOrStore(rest, &atomic.Int64{})
		n.(*atomic.Int64).Add(1)
	}
	h := p.handler.Load()
	if h == nil {
		http.Error(w, "no world", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

// setWorld replaces the simulated dbt Cloud.
func (p *pipeline) setWorld(t *testing.T, accounts ...devcloud.AccountSpec) *devcloud.Server {
	t.Helper()
	cloud, err := devcloud.New(devcloud.Config{Accounts: accounts, WebhookBackoff: time.Millisecond,
		WebhookTimeout: 2 * time.Second, DeactivateAfter: 1})
	if err != nil {
		t.Fatalf("devcloud.New: %v", err)
	}
	h := cloud.Handler()
	p.handler.Store(&h)
	p.cloud = cloud
	return cloud
}

// runGets is how many times run id was read.
func (p *pipeline) runGets(id int64) int64 {
	n, ok := p.getRuns.Load(fmt.Sprintf("%d/", id))
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// env is the operator's environment for this pipeline; overrides win.
func (p *pipeline) env(overrides ...string) func(string) string {
	m := map[string]string{
		"DBT_CLOUD_ACCOUNT_ID": "1", "DBT_CLOUD_ACCESS_URL": p.api.URL, "DBT_CLOUD_API_TOKEN": testToken,
		"NATS_URL": p.natsURL, "HARVESTER_LOG_LEVEL": "error",
	}
	for i := 0; i+1 < len(overrides); i += 2 {
		m[overrides[i]] = overrides[i+1]
	}
	return func(k string) string { return m[k] }
}

// harvester runs one command line.
func harvester(ctx context.Context, getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = run(ctx, args, getenv, &out, &errb)
	return out.String(), errb.String(), err
}

// closings reads DBT_METADATA from the start until want harvest.completed
// events arrived (or 30s passed) and returns them in stream order.
func closings(t *testing.T, js jetstream.JetStream, want int) []events.HarvestCompleted {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, events.StreamMetadata, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"dbt.metadata.*.*.*.harvest"}})
	if err != nil {
		t.Fatal(err)
	}
	var out []events.HarvestCompleted
	for len(out) < want {
		msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
		if err != nil {
			t.Fatalf("waiting for %d harvest.completed events (got %d): %v", want, len(out), err)
		}
		ev, err := events.Decode(msg.Data())
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Type() {
		case events.TypeHarvestCompleted:
			hc, err := events.DataAs[events.HarvestCompleted](ev)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, hc)
		case events.TypeHarvestFailed:
			hf, _ := events.DataAs[events.HarvestFailed](ev)
			t.Fatalf("harvest failed: %+v", hf)
		}
	}
	return out
}

// record is run's DBT_HARVESTS record, waiting up to 30s for it.
func record(t *testing.T, js jetstream.JetStream, run int64) ledger.Record {
	t.Helper()
	kv, err := js.KeyValue(t.Context(), ledger.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := kv.Get(t.Context(), ledger.Key(1, run))
		if err == nil {
			var rec ledger.Record
			if err := json.Unmarshal(e.Value(), &rec); err != nil {
				t.Fatal(err)
			}
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("no DBT_HARVESTS record for run %d: %v", run, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
