package devcloud

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
)

// TestSignVector checks Sign against the reference's test vector (§1.4).
func TestSignVector(t *testing.T) {
	body := `{"accountId":1,"webhookId":"wsu_12345abcde","eventId":"wev_test","timestamp":"2026-01-01T00:00:00.000000000Z","eventType":"job.run.started","webhookName":"test","data":{"jobId":"123","runId":"456"}}`
	if len(body) != 198 {
		t.Fatalf("vector body is %d bytes, want 198", len(body))
	}
	const want = "832c819bd120d93bb0fd08e208b916e1a8a897bf51261b1d69ba0de56ff2e92f"
	if got := Sign("my-webhook-secret", []byte(body)); got != want {
		t.Errorf("Sign(vector) = %s, want %s", got, want)
	}
}

// delivery is one request a test receiver saw.
type delivery struct {
	body []byte
	sig  string
	ct   string
}

// receiver answers codes in turn (then 200) and records every request.
type receiver struct {
	mu    sync.Mutex
	codes []int
	got   []delivery
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, delivery{body, r.Header.Get("Authorization"), r.Header.Get("Content-Type")})
	code := http.StatusOK
	if len(rc.codes) > 0 {
		code, rc.codes = rc.codes[0], rc.codes[1:]
	}
	w.WriteHeader(code)
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// validSig recomputes the signature independently of Sign.
func validSig(secret string, d delivery) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(d.body)
	want := mac.Sum(nil)
	got, err := hex.DecodeString(d.sig)
	return err == nil && hmac.Equal(got, want) && d.sig == strings.ToLower(d.sig)
}

func TestDeliverRetries(t *testing.T) {
	tests := []struct {
		name         string
		codes        []int
		wantAttempts int
		wantErr      bool
	}{
		{"first try", nil, 1, false},
		{"500 twice then 200", []int{500, 500}, 3, false},
		{"202 counts as success", []int{202}, 1, false},
		{"always failing", []int{500, 502, 503, 404, 429, 500, 500}, 6, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{codes: tt.codes}
			hook := httptest.NewServer(rc)
			defer hook.Close()
			s, _ := testServer(t, Config{WebhookURL: hook.URL, WebhookSecret: "s3cret", WebhookBackoff: time.Millisecond})
			id, err := s.Deliver(t.Context(), EventRunCompleted)
			if (err != nil) != tt.wantErr || !strings.HasPrefix(id, "wev_") || len(id) != 31 {
				t.Fatalf("Deliver = %q, %v; want a wev_ ID and error %v", id, err, tt.wantErr)
			}
			got := rc.deliveries()
			if len(got) != tt.wantAttempts {
				t.Fatalf("receiver saw %d attempts, want %d", len(got), tt.wantAttempts)
			}
			for i, d := range got {
				if !validSig("s3cret", d) || d.ct != "application/json" {
					t.Errorf("attempt %d: signature %q or content type %q invalid", i+1, d.sig, d.ct)
				}
				if !bytes.Equal(d.body, got[0].body) {
					t.Errorf("attempt %d body differs from the first", i+1)
				}
				p, err := events.ParseRunWebhook(d.body)
				if err != nil || p.EventID != id {
					t.Errorf("attempt %d: ParseRunWebhook = %+v, %v; want eventId %s", i+1, p, err, id)
				}
			}
		})
	}
}

// TestDeliverTimeout checks that a slow receiver counts as a failed attempt.
func TestDeliverTimeout(t *testing.T) {
	n := 0
	var mu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body) // then net/http notices the client hanging up
		if first {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	defer hook.Close()
	s, _ := testServer(t, Config{WebhookURL: hook.URL, WebhookSecret: "k", WebhookTimeout: 50 * time.Millisecond, WebhookBackoff: time.Millisecond})
	if _, err := s.Deliver(t.Context(), EventRunStarted); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 2 {
		t.Errorf("receiver saw %d attempts, want 2 (the first timed out)", n)
	}
}

// keyOrder lists an object's keys in document order, nested ones as "a.b".
func keyOrder(t *testing.T, raw []byte) []string {
	t.Helper()
	return walkKeys(t, raw, "")
}

func walkKeys(t *testing.T, raw []byte, prefix string) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %.40s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		key := prefix + tok.(string)
		keys = append(keys, key)
		if bytes.HasPrefix(v, []byte("{")) {
			keys = append(keys, walkKeys(t, v, key+".")...)
		}
	}
	return keys
}

// TestWebhookPayloads compares the payloads' key order and value types
// with the zulip fixtures, for each event and run status.
func TestWebhookPayloads(t *testing.T) {
	tests := []struct {
		event, fixture string
		status         int
		runStatus      string
	}{
		{EventRunStarted, "job_run_started.json", statusSuccess, "Running"},
		{EventRunCompleted, "job_run_completed.json", statusSuccess, "Success"},
		{EventRunCompleted, "job_run_completed_errored.json", statusError, "Errored"},
		{EventRunErrored, "job_run_errored.json", statusError, "Errored"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			rc := &receiver{}
			hook := httptest.NewServer(rc)
			defer hook.Close()
			s, _ := testServer(t, Config{RunStatus: tt.status, WebhookURL: hook.URL, WebhookSecret: "k"})
			if _, err := s.Deliver(t.Context(), tt.event); err != nil {
				t.Fatalf("Deliver(%s): %v", tt.event, err)
			}
			body := rc.deliveries()[0].body
			real, err := os.ReadFile(filepath.Join("testdata", "reference", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := keyOrder(t, body), keyOrder(t, real); !slices.Equal(got, want) {
				t.Errorf("keys = %q\nwant   %q", got, want)
			}
			var g, w any
			_ = json.Unmarshal(body, &g)
			_ = json.Unmarshal(real, &w)
			for _, d := range shapeDiff("", w, g) {
				t.Error(d)
			}
			p, err := events.ParseRunWebhook(body)
			if err != nil || p.AccountID != 1 || p.Data.ProjectID != 100 || p.Data.EnvironmentID != 200 || p.Data.JobID != 300 || p.Data.RunID != 400 || p.Data.RunStatus != tt.runStatus {
				t.Errorf("ParseRunWebhook = %+v, %v", p, err)
			}
			if _, err := time.Parse(time.RFC3339Nano, p.Data.RunStartedAt); err != nil || strings.Contains(p.Data.RunStartedAt, ".") {
				t.Errorf("runStartedAt = %q, want RFC 3339 in whole seconds", p.Data.RunStartedAt)
			}
		})
	}
}

// TestRun serves on a random port, delivers the run's webhooks in order and
// shuts down when ctx is cancelled.
func TestRun(t *testing.T) {
	rc := &receiver{codes: []int{500}}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := Config{Token: testToken, ArtifactsDir: testArtifacts(t), RunStatus: statusError,
		WebhookURL: hook.URL, WebhookSecret: "k", WebhookBackoff: time.Millisecond}
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, "127.0.0.1:0", func(u string) { urls <- u }) }()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz = %v, %v", resp, err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.deliveries()) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var types []string
	for _, d := range rc.deliveries() {
		p, err := events.ParseRunWebhook(d.body)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, p.EventType)
	}
	want := []string{EventRunStarted, EventRunStarted, EventRunErrored, EventRunCompleted} // the first attempt got a 500
	if !slices.Equal(types, want) {
		t.Errorf("deliveries = %q, want %q", types, want)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
