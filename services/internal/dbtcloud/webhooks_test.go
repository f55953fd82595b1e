package dbtcloud_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// hookReceiver answers code to every delivery and records them.
type hookReceiver struct {
	mu   sync.Mutex
	code int
	got  []hookDelivery
}

type hookDelivery struct {
	body []byte
	sig  string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, hookDelivery{b, r.Header.Get("Authorization")})
	w.WriteHeader(h.code)
}

func (h *hookReceiver) setCode(c int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.code = c
}

func (h *hookReceiver) deliveries() []hookDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

func signedBy(secret string, d hookDelivery) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(d.body)
	got, err := hex.DecodeString(d.sig)
	return err == nil && hmac.Equal(got, mac.Sum(nil))
}

// setupSim is setup that also returns the simulator.
func setupSim(t *testing.T, cfg devcloud.Config) (*devcloud.Server, *dbtcloud.Client) {
	t.Helper()
	cfg.Token = token
	if cfg.ArtifactsDir == "" && len(cfg.Accounts) == 0 {
		cfg.ArtifactsDir = artifactsDir(t)
	}
	cfg.WebhookBackoff = cmpDur(cfg.WebhookBackoff, time.Millisecond)
	sim, err := devcloud.New(cfg)
	if err != nil {
		t.Fatalf("devcloud.New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c, err := dbtcloud.New(dbtcloud.Options{AccessURL: srv.URL, AccountID: 1, Token: token, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func cmpDur(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func TestSubscriptionLifecycle(t *testing.T) {
	ctx := t.Context()
	hook := &hookReceiver{code: 202}
	hsrv := httptest.NewServer(hook)
	defer hsrv.Close()
	sim, c := setupSim(t, world(t))

	in := dbtcloud.SubscriptionInput{Name: "harvester", Description: "metadata", ClientURL: hsrv.URL + "/webhooks/dbt-cloud",
		EventTypes: []string{dbtcloud.EventRunCompleted, dbtcloud.EventRunErrored}, JobIDs: []int64{300}, Active: true}
	created, err := c.CreateSubscription(ctx, in)
	if err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	secret := created.HMACSecret.Reveal()
	if !strings.HasPrefix(created.ID, "wsu_") || secret == "" || !created.Active || !slices.Equal(created.JobIDs, []int64{300}) ||
		created.HTTPStatusCode != "0" || created.AccountID != 1 || created.CreatedAt.IsZero() || time.Since(created.CreatedAt) > time.Minute {
		t.Errorf("CreateSubscription = %+v", created)
	}
	for _, s := range []string{fmt.Sprint(created), fmt.Sprintf("%+v", created), fmt.Sprintf("%#v", created), fmt.Sprintf("%s|%q|%x", created.HMACSecret, created.HMACSecret, created.HMACSecret)} {
		if strings.Contains(s, secret) {
			t.Errorf("formatting a subscription shows its secret: %s", s)
		}
	}
	if b, _ := json.Marshal(created); strings.Contains(string(b), secret) {
		t.Errorf("JSON of a subscription shows its secret: %s", b)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", created.HMACSecret)
	if strings.Contains(logged.String(), secret) {
		t.Errorf("slog shows the secret: %s", logged.String())
	}

	got, err := c.GetSubscription(ctx, created.ID)
	if err != nil || got.ID != created.ID || got.HMACSecret != "" || got.Name != "harvester" || got.ClientURL != in.ClientURL {
		t.Errorf("GetSubscription = %+v, %v", got, err)
	}
	if _, err := c.GetSubscription(ctx, "wsu_nope"); !errors.Is(err, dbtcloud.ErrNotFound) {
		t.Errorf("GetSubscription(unknown) = %v, want ErrNotFound", err)
	}

	// A run of job 300 completes with an error: errored then completed, signed.
	runID := sim.AddRun(devcloud.RunSpec{JobID: 300})
	if runID == 0 {
		t.Fatal("AddRun = 0")
	}
	run, err := c.GetRun(ctx, runID)
	if err != nil || run.Status != dbtcloud.StatusRunning || run.IsComplete || !run.FinishedAt.IsZero() {
		t.Errorf("running run = %+v, %v", run, err)
	}
	if _, _, err := c.Artifact(ctx, runID, "manifest.json", 0); !errors.Is(err, dbtcloud.ErrNotFound) {
		t.Errorf("artifact of a running run = %v, want ErrNotFound", err)
	}
	if err := sim.CompleteRun(ctx, runID, dbtcloud.StatusError); err != nil {
		t.Fatalf("CompleteRun: %v", err)
	}
	var types []string
	for _, d := range hook.deliveries() {
		var p struct {
			EventType string `json:"eventType"`
			WebhookID string `json:"webhookId"`
			Data      struct {
				RunID string `json:"runId"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.body, &p); err != nil || !signedBy(secret, d) || p.WebhookID != created.ID || p.Data.RunID != strconv.FormatInt(runID, 10) {
			t.Errorf("delivery %s: %+v, %v, signed %v", d.body, p, err, signedBy(secret, d))
		}
		types = append(types, p.EventType)
	}
	if want := []string{dbtcloud.EventRunErrored, dbtcloud.EventRunCompleted}; !slices.Equal(types, want) {
		t.Errorf("deliveries = %q, want %q (no started: not subscribed)", types, want)
	}
	run, err = c.GetRun(ctx, runID)
	if err != nil || run.Status != dbtcloud.StatusError || !run.IsComplete || run.FinishedAt.IsZero() {
		t.Errorf("completed run = %+v, %v", run, err)
	}
	// A run of another job is filtered out by job_ids.
	other := sim.AddRun(devcloud.RunSpec{JobID: 301})
	if err := sim.CompleteRun(ctx, other, dbtcloud.StatusSuccess); err != nil || len(hook.deliveries()) != 2 {
		t.Errorf("CompleteRun(job 301) = %v with %d deliveries, want none for a job outside job_ids", err, len(hook.deliveries()))
	}
	got, err = c.GetSubscription(ctx, created.ID)
	if err != nil || got.HTTPStatusCode != "202" || got.DispatchedAt.IsZero() {
		t.Errorf("after deliveries: %+v, %v; want http_status_code 202 and dispatched_at", got, err)
	}

	upd := in
	upd.EventTypes, upd.JobIDs, upd.Active = []string{dbtcloud.EventRunStarted}, nil, false
	updated, err := c.UpdateSubscription(ctx, created.ID, upd)
	if err != nil || updated.Active || len(updated.JobIDs) != 0 || !slices.Equal(updated.EventTypes, upd.EventTypes) {
		t.Errorf("UpdateSubscription = %+v, %v", updated, err)
	}
	list, err := c.ListSubscriptions(ctx)
	if err != nil || len(list) != 1 || list[0].ID != created.ID || list[0].Active {
		t.Errorf("ListSubscriptions = %+v, %v", list, err)
	}
	if err := c.DeleteSubscription(ctx, created.ID); err != nil {
		t.Fatalf("DeleteSubscription: %v", err)
	}
	if list, err := c.ListSubscriptions(ctx); err != nil || len(list) != 0 || len(sim.Subscriptions()) != 0 {
		t.Errorf("after delete: %+v, %v", list, err)
	}
	if err := c.DeleteSubscription(ctx, created.ID); !errors.Is(err, dbtcloud.ErrNotFound) {
		t.Errorf("second delete = %v, want ErrNotFound", err)
	}
}

func TestListSubscriptionsPages(t *testing.T) {
	_, c := setupSim(t, devcloud.Config{})
	for i := range 12 {
		if _, err := c.CreateSubscription(t.Context(), dbtcloud.SubscriptionInput{Name: fmt.Sprint("s", i), ClientURL: "https://example.test/h",
			EventTypes: []string{dbtcloud.EventRunCompleted}, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.ListSubscriptions(t.Context())
	if err != nil || len(list) != 12 || list[11].Name != "s11" {
		t.Errorf("ListSubscriptions = %d, %v; want 12", len(list), err)
	}
	_, err = c.CreateSubscription(t.Context(), dbtcloud.SubscriptionInput{Name: "bad", ClientURL: "https://example.test/h", Active: true})
	if !retry.IsPermanent(err) {
		t.Errorf("CreateSubscription without event types = %v, want a permanent error", err)
	}
}

func TestDeactivation(t *testing.T) {
	ctx := t.Context()
	hook := &hookReceiver{code: 500}
	hsrv := httptest.NewServer(hook)
	defer hsrv.Close()
	sim, c := setupSim(t, devcloud.Config{})
	sub, err := c.CreateSubscription(ctx, dbtcloud.SubscriptionInput{Name: "h", ClientURL: hsrv.URL, EventTypes: []string{dbtcloud.EventRunCompleted}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		id := sim.AddRun(devcloud.RunSpec{})
		if err := sim.CompleteRun(ctx, id, dbtcloud.StatusSuccess); err == nil {
			t.Errorf("CompleteRun %d with a failing receiver = nil error", i)
		}
		got, err := c.GetSubscription(ctx, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		if wantActive := i < 5; got.Active != wantActive || got.HTTPStatusCode != "500" {
			t.Errorf("after %d failed deliveries: active %v, http_status_code %q; want %v, 500", i, got.Active, got.HTTPStatusCode, wantActive)
		}
		if i == 5 && got.DeactivateReason == "" {
			t.Error("deactivated without a deactivate_reason")
		}
	}
	if n := len(hook.deliveries()); n != 5*6 {
		t.Errorf("receiver saw %d attempts, want 30 (5 deliveries of 1+5 attempts)", n)
	}
	// Deactivated: nothing more is sent; reactivating by PUT resets it.
	id := sim.AddRun(devcloud.RunSpec{})
	if err := sim.CompleteRun(ctx, id, dbtcloud.StatusSuccess); err != nil || len(hook.deliveries()) != 30 {
		t.Errorf("CompleteRun on a deactivated subscription = %v, %d attempts", err, len(hook.deliveries()))
	}
	hook.setCode(200)
	re, err := c.UpdateSubscription(ctx, sub.ID, dbtcloud.SubscriptionInput{Name: "h", ClientURL: hsrv.URL, EventTypes: []string{dbtcloud.EventRunCompleted}, Active: true})
	if err != nil || !re.Active || re.DeactivateReason != "" {
		t.Errorf("reactivate = %+v, %v", re, err)
	}
	id = sim.AddRun(devcloud.RunSpec{})
	if err := sim.CompleteRun(ctx, id, dbtcloud.StatusSuccess); err != nil {
		t.Errorf("CompleteRun after reactivation: %v", err)
	}
	if s := sim.Subscriptions(); len(s) != 1 || !s[0].Active || s[0].ConsecutiveFailures != 0 || s[0].Delivered != 1 {
		t.Errorf("Subscriptions() = %+v", s)
	}
}

func TestTestSubscription(t *testing.T) {
	ctx := t.Context()
	for _, code := range []int{202, 401} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			hook := &hookReceiver{code: code}
			hsrv := httptest.NewServer(hook)
			defer hsrv.Close()
			_, c := setupSim(t, world(t))
			sub, err := c.CreateSubscription(ctx, dbtcloud.SubscriptionInput{Name: "h", ClientURL: hsrv.URL, EventTypes: []string{dbtcloud.EventRunCompleted}, Active: true})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.TestSubscription(ctx, sub.ID)
			if err != nil || !strings.HasPrefix(res.EventID, "wev_") || res.VerificationStatusCode != strconv.Itoa(code) || (code == 202) != (res.VerificationError == "") {
				t.Fatalf("TestSubscription = %+v, %v", res, err)
			}
			d := hook.deliveries()
			if len(d) != 1 || !signedBy(sub.HMACSecret.Reveal(), d[0]) {
				t.Fatalf("test deliveries = %d, want 1 signed", len(d))
			}
			var p struct {
				EventID string `json:"eventId"`
				Data    struct {
					RunID, JobID string
				} `json:"data"`
			}
			_ = json.Unmarshal(d[0].body, &p)
			if p.EventID != res.EventID || p.Data.RunID == "" {
				t.Errorf("test payload = %s", d[0].body)
			}
			// The test delivery's run does not exist, as in dbt Cloud.
			runID, err := strconv.ParseInt(p.Data.RunID, 10, 64)
			if err != nil {
				t.Fatalf("test payload run ID %q: %v", p.Data.RunID, err)
			}
			if _, err := c.GetRun(ctx, runID); !errors.Is(err, dbtcloud.ErrNotFound) {
				t.Errorf("GetRun(test run %d) = %v, want ErrNotFound", runID, err)
			}
		})
	}
}

// TestSubscriptionShapes decodes the two documented shapes of a
// subscription and of a test answer.
func TestSubscriptionShapes(t *testing.T) {
	docs := `{"data":{"id":"wsu_12345abcde","account_identifier":"act_12345abcde","name":"Webhook for jobs","description":"A webhook for when jobs are started running","job_ids":["123","321"],"event_types":["job.run.started"],"client_url":"https://test.com","hmac_secret":"123456789abcdef","active":true,"created_at":"1675735768491774","updated_at":"1675735768491774","account_id":"123","http_status_code":"0"},"status":{"code":201,"is_success":true,"user_message":"Success!","developer_message":""}}`
	spec := `{"data":{"id":"wsu_x","name":"n","description":null,"event_types":["job.run.completed"],"job_ids":[123,321],"client_url":"https://test.com","active":false,"http_status_code":"410","dispatched_at":"1675736897492004","deactivate_reason":"too many failures","account_id":123,"account_identifier":"act_x"},"status":{"code":200}}`
	for name, body := range map[string]string{"docs": docs, "spec": spec} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/test") {
				if name == "docs" {
					_, _ = io.WriteString(w, `{"data":{"verification_error":null,"verification_status_code":"200"},"status":{"code":200}}`)
				} else {
					_, _ = io.WriteString(w, `{"data":{"event_id":"wev_abc"},"status":{"code":200}}`)
				}
				return
			}
			_, _ = io.WriteString(w, body)
		}))
		c, err := dbtcloud.New(dbtcloud.Options{AccessURL: srv.URL, AccountID: 123, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.GetSubscription(t.Context(), "wsu_x")
		if err != nil || !slices.Equal(s.JobIDs, []int64{123, 321}) || s.AccountID != 123 {
			t.Errorf("%s shape: %+v, %v", name, s, err)
		}
		if name == "docs" && (s.CreatedAt != time.UnixMicro(1675735768491774).UTC() || s.HMACSecret.Reveal() != "123456789abcdef" || !s.DispatchedAt.IsZero()) {
			t.Errorf("docs shape times/secret: %+v", s)
		}
		if name == "spec" && (s.DispatchedAt != time.UnixMicro(1675736897492004).UTC() || s.DeactivateReason != "too many failures" || s.Active) {
			t.Errorf("spec shape: %+v", s)
		}
		res, err := c.TestSubscription(t.Context(), "wsu_x")
		if err != nil || (name == "docs" && (res.VerificationStatusCode != "200" || res.VerificationError != "")) || (name == "spec" && res.EventID != "wev_abc") {
			t.Errorf("%s test shape: %+v, %v", name, res, err)
		}
		srv.Close()
	}
}
