package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/receiver"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// TestWebhookCommands registers, re-registers, lists, tests and deletes a
// subscription against the simulator, with a real receiver behind the URL.
func TestWebhookCommands(t *testing.T) {
	ctx := t.Context()
	p := newCloud(t)
	cloud := p.setWorld(t, account(testArtifacts(t), 1, true, true))
	_, js := natstest.Run(t)
	if err := topology.Ensure(ctx, js, topology.Config{}); err != nil {
		t.Fatal(err)
	}
	var recv atomic.Pointer[http.Handler]
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := recv.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "no receiver", http.StatusServiceUnavailable)
	}))
	t.Cleanup(hook.Close)
	setSecret := func(secret string) {
		h := (&receiver.Receiver{Secrets: [][]byte{[]byte(secret)}, JS: js}).Handler()
		recv.Store(&h)
	}
	hookURL := hook.URL + dbtcloud.WebhookPath
	secretFile := filepath.Join(t.TempDir(), "webhook-secret")
	env := p.env()

	out, _, err := harvester(ctx, env, "webhook", "register", "--url", hookURL, "--jobs", "300", "--secret-file", secretFile)
	if err != nil || !strings.Contains(out, "created webhook subscription") {
		t.Fatalf("register = %v\n%s", err, out)
	}
	fi, err := os.Stat(secretFile)
	if err != nil {
		t.Fatalf("secret file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode = %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(secretFile)
	secret := strings.TrimSpace(string(b))
	if secret == "" || strings.Contains(out, secret) {
		t.Fatalf("secret empty or printed without --print-secret:\n%s", out)
	}
	setSecret(secret)

	t.Run("register again updates, keeps one", func(t *testing.T) {
		out, _, err := harvester(ctx, env, "webhook", "register", "--url", hookURL, "--events", "completed,errored", "--secret-file", secretFile)
		if err != nil || !strings.Contains(out, "updated webhook subscription") || !strings.Contains(out, secretFile) {
			t.Fatalf("second register = %v\n%s", err, out)
		}
		subs := cloud.Subscriptions()
		if len(subs) != 1 || len(subs[0].EventTypes) != 2 || len(subs[0].JobIDs) != 0 {
			t.Fatalf("subscriptions after second register = %+v, want one with 2 event types, every job", subs)
		}
	})
	t.Run("list", func(t *testing.T) {
		out, _, err := harvester(ctx, env, "webhook", "list")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"ID", "DEACTIVATE REASON", cloud.Subscriptions()[0].ID, hookURL, "completed,errored", "all", "true"} {
			if !strings.Contains(out, want) {
				t.Errorf("list lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("test is accepted by the receiver", func(t *testing.T) {
		out, _, err := harvester(ctx, env, "webhook", "test", "--url", hookURL)
		if err != nil || !strings.Contains(out, "accepted") || !strings.Contains(out, "202") {
			t.Fatalf("webhook test = %v\n%s", err, out)
		}
		s, err := js.Stream(ctx, events.StreamRuns)
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := s.Info(ctx); info == nil || info.State.Msgs != 1 {
			t.Errorf("DBT_RUNS after the test delivery = %+v, want 1 message", info)
		}
	})
	t.Run("test with the wrong secret is reported", func(t *testing.T) {
		setSecret("not-the-secret")
		defer setSecret(secret)
		id := cloud.Subscriptions()[0].ID
		out, _, err := harvester(ctx, env, "webhook", "test", "--id", id)
		if err == nil || !strings.Contains(out, "401") || !strings.Contains(out, "DBT_CLOUD_WEBHOOK_SECRET_FILE") {
			t.Fatalf("webhook test with a wrong secret = %v\n%s", err, out)
		}
	})
	t.Run("print secret and delete", func(t *testing.T) {
		other := hook.URL + "/other" + dbtcloud.WebhookPath
		out, stderr, err := harvester(ctx, env, "webhook", "register", "--url", other, "--print-secret")
		if err != nil || !strings.Contains(out, "shown once") {
			t.Fatalf("register --print-secret = %v\n%s%s", err, out, stderr)
		}
		if n := len(cloud.Subscriptions()); n != 2 {
			t.Fatalf("%d subscriptions, want 2", n)
		}
		if out, _, err := harvester(ctx, env, "webhook", "delete", "--url", hookURL); err != nil || !strings.Contains(out, "deleted") {
			t.Fatalf("delete --url = %v\n%s", err, out)
		}
		subs := cloud.Subscriptions()
		if len(subs) != 1 || subs[0].ClientURL != other {
			t.Fatalf("after delete: %+v", subs)
		}
		if _, _, err := harvester(ctx, env, "webhook", "delete", "--id", subs[0].ID); err != nil {
			t.Fatal(err)
		}
		if n := len(cloud.Subscriptions()); n != 0 {
			t.Errorf("%d subscriptions after deleting both", n)
		}
	})
}

func TestParseEvents(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"completed", "job.run.completed", false},
		{"completed, errored,started", "job.run.completed job.run.errored job.run.started", false},
		{"job.run.completed", "job.run.completed", false},
		{"finished", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := parseEvents(tt.in)
		if (err != nil) != tt.wantErr || strings.Join(got, " ") != tt.want {
			t.Errorf("parseEvents(%q) = %v, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
