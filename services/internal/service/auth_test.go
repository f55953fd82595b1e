package service_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/corpus"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/receiver"
	"github.com/dbt-harvester/harvester/services/internal/service"
)

const (
	authToken  = "auth-api-token"
	authSecret = "auth-webhook-secret"
)

// harvestThrough runs every role with cfg (its NATS and receiver settings),
// lets the simulator deliver a completed run, and returns the closing event
// read back from DBT_METADATA through a connection opened with reader.
func harvestThrough(t *testing.T, cfg config.Config, reader func(service.Info) (*nats.Conn, error)) events.HarvestCompleted {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(5)); err != nil {
		t.Fatal(err)
	}
	cloud, err := devcloud.New(devcloud.Config{Token: authToken, ArtifactsDir: dir, WebhookSecret: authSecret,
		WebhookBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(cloud.Handler())
	defer api.Close()
	cfg.Accounts = []config.Account{{ID: 1, AccessURL: api.URL, Token: authToken}}
	cfg.WebhookSecrets = []config.Secret{authSecret}
	cfg.HTTPAddr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan service.Info, 1), make(chan error, 1)
	go func() {
		done <- service.Run(ctx, service.Options{Config: cfg, Roles: service.Roles{Receiver: true, Fetcher: true, Normalizer: true}, Ready: func(i service.Info) { ready <- i }})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	}()
	var info service.Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run not ready after 30s")
	}
	body := []byte(fmt.Sprintf(`{"accountId":1,"webhookId":"wsu_1","eventId":"wev_auth","timestamp":"2026-03-02T06:00:09Z",`+
		`"eventType":"job.run.completed","webhookName":"h","data":{"jobId":"300","runId":"400","environmentId":"200",`+
		`"projectId":"100","runStatus":"Success","runStatusCode":10,"runFinishedAt":"%s"}}`, time.Now().UTC().Format(time.RFC3339)))
	req, _ := http.NewRequest(http.MethodPost, "http://"+info.HTTPAddr.String()+dbtcloud.WebhookPath, bytes.NewReader(body))
	req.Header.Set("Authorization", receiver.Sign([]byte(authSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST webhook: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST webhook = %d, want 202", resp.StatusCode)
	}
	nc, err := reader(info)
	if err != nil {
		t.Fatalf("reader connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer ccancel()
	cons, err := js.OrderedConsumer(cctx, events.StreamMetadata, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"dbt.metadata.>"}})
	if err != nil {
		t.Fatalf("OrderedConsumer: %v", err)
	}
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
		if err != nil {
			t.Fatalf("waiting for the harvest: %v", err)
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
			return hc
		case events.TypeHarvestFailed:
			hf, _ := events.DataAs[events.HarvestFailed](ev)
			t.Fatalf("harvest failed: %+v", hf)
		}
	}
}

// TestServicesAgainstSecuredNATS: the services harvest a run through an
// external server that requires each kind of credentials.
func TestServicesAgainstSecuredNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("four pipelines")
	}
	nkeyPub, nkeySeed := natstest.NKeyUser(t)
	operator, creds := natstest.Operator(t)
	certs := natstest.TLS(t)
	users := "authorization { users = [{user: harvester, password: s3cr3tpw}] }\n"
	tests := []struct {
		name, server string
		client       natsconn.Options
	}{
		{"user and password", users, natsconn.Options{User: "harvester", Password: "s3cr3tpw"}},
		{"nkey", "authorization { users = [{nkey: " + nkeyPub + "}] }\n", natsconn.Options{NKeyFile: nkeySeed}},
		{"creds", operator, natsconn.Options{CredsFile: creds}},
		{"TLS with client certificate", users + fmt.Sprintf("tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true }\n",
			certs.ServerCert, certs.ServerKey, certs.CA),
			natsconn.Options{User: "harvester", Password: "s3cr3tpw", TLSCA: certs.CA, TLSCert: certs.ClientCert, TLSKey: certs.ClientKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := natstest.Server(t, tt.server)
			if _, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(0)); err == nil {
				t.Fatal("an anonymous client connected: the server is not secured")
			}
			cfg := config.Config{NATS: tt.client}
			cfg.NATS.URL = ns.ClientURL()
			hc := harvestThrough(t, cfg, func(service.Info) (*nats.Conn, error) {
				conn, closeFn, err := natsconn.Connect(t.Context(), cfg.NATS)
				if err != nil {
					return nil, err
				}
				t.Cleanup(closeFn)
				return conn.NC, nil
			})
			if hc.Assets == 0 {
				t.Errorf("harvest.completed with %d assets, want some", hc.Assets)
			}
		})
	}
}

// TestServeWithShippedAuthConfig is `harvester serve --nats-config
// deploy/nats/auth.conf` as the README sets it up: the embedded services
// connect as harvester, and a reader reads the harvest.
func TestServeWithShippedAuthConfig(t *testing.T) {
	t.Setenv("NATS_PASSWORD", "0a1b2c3d4e5f6a7b8c9d")
	t.Setenv("NATS_READER_PASSWORD", "9f8e7d6c5b4a39281706")
	env := map[string]string{
		"HARVESTER_NATS_CONFIG": filepath.Join(corpus.RepoRoot(t), "deploy", "nats", "auth.conf"),
		"HARVESTER_STORE_DIR":   t.TempDir(),
		"HARVESTER_NATS_LISTEN": "127.0.0.1:-1",
		"NATS_USER":             "harvester",
		"NATS_PASSWORD":         "0a1b2c3d4e5f6a7b8c9d",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	hc := harvestThrough(t, cfg, func(i service.Info) (*nats.Conn, error) {
		if _, err := nats.Connect(i.NATSURL, nats.MaxReconnects(0)); err == nil {
			return nil, fmt.Errorf("an anonymous client connected to %s", i.NATSURL)
		}
		return nats.Connect(i.NATSURL, nats.UserInfo("reader", "9f8e7d6c5b4a39281706"))
	})
	if hc.Assets == 0 {
		t.Errorf("harvest.completed with %d assets, want some", hc.Assets)
	}
}

// TestServeRefusesOpenNATS: `serve --nats-listen 0.0.0.0:4222` without users
// stops at once and says how to add them.
func TestServeRefusesOpenNATS(t *testing.T) {
	env := map[string]string{"HARVESTER_STORE_DIR": t.TempDir()}
	var stderr strings.Builder
	err := service.Command(t.Context(), "serve", []string{"--nats-listen", "0.0.0.0:4222", "--http-addr", "127.0.0.1:0"},
		func(k string) string { return env[k] }, &stderr, service.Roles{Receiver: true, Fetcher: true, Normalizer: true})
	if err == nil {
		t.Fatal("serve on 0.0.0.0 without authentication started")
	}
	for _, want := range []string{"--nats-config", "HARVESTER_NATS_CONFIG", "deploy/nats/auth.conf", "NATS_USER"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
