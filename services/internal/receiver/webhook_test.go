package receiver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// A payload as dbt Cloud sends it: accountId a number, the other IDs strings.
func payload(eventID, eventType string) string {
	return fmt.Sprintf(`{"accountId":1,"webhookId":"wsu_1","eventId":%q,"timestamp":"2026-03-02T06:00:09.431200871Z","eventType":%q,"webhookName":"h","data":{"jobId":"300","jobName":"Nightly","runId":"400","environmentId":"200","environmentName":"Prod","dbtVersion":"1.9.4","projectName":"P","projectId":"100","runStatus":"Success","runStatusCode":10,"runStatusMessage":"None","runReason":"scheduler","runStartedAt":"2026-03-02T06:00:00Z","runFinishedAt":"2026-03-02T06:00:09Z"}}`, eventID, eventType)
}

func TestSignatureVector(t *testing.T) {
	// The test vector of ../shared/reference/dbt-cloud.md section 1.4.
	body := `{"accountId":1,"webhookId":"wsu_12345abcde","eventId":"wev_test","timestamp":"2026-01-01T00:00:00.000000000Z","eventType":"job.run.started","webhookName":"test","data":{"jobId":"123","runId":"456"}}`
	const want = "832c819bd120d93bb0fd08e208b916e1a8a897bf51261b1d69ba0de56ff2e92f"
	if got := Sign([]byte("my-webhook-secret"), []byte(body)); got != want {
		t.Errorf("Sign(vector) = %s, want %s", got, want)
	}
	if !ValidSignature([][]byte{[]byte("old"), []byte("my-webhook-secret")}, []byte(body), want) {
		t.Error("ValidSignature rejected the vector under the second of two secrets")
	}
}

func TestHandleStatusCodes(t *testing.T) {
	const secret = "s3cret"
	big := strings.Repeat(" ", 300<<10) + payload("wev_big", "job.run.completed")
	tests := []struct {
		name       string
		body       string
		sign       func(body string) string
		stopJS     bool
		wantStatus int
		wantMsgs   uint64 // messages in DBT_RUNS afterwards
	}{
		{"completed stored", payload("wev_1", "job.run.completed"), signWith(secret), false, http.StatusAccepted, 1},
		{"started stored", payload("wev_2", "job.run.started"), signWith(secret), false, http.StatusAccepted, 1},
		{"rotated secret", payload("wev_3", "job.run.errored"), signWith("next"), false, http.StatusAccepted, 1},
		{"uppercase hex", payload("wev_4", "job.run.completed"), func(b string) string { return strings.ToUpper(signWith(secret)(b)) }, false, http.StatusAccepted, 1},
		{"bad signature", payload("wev_5", "job.run.completed"), signWith("wrong"), false, http.StatusUnauthorized, 0},
		{"no signature", payload("wev_6", "job.run.completed"), func(string) string { return "" }, false, http.StatusUnauthorized, 0},
		{"bearer prefix", payload("wev_7", "job.run.completed"), func(b string) string { return "Bearer " + signWith(secret)(b) }, false, http.StatusUnauthorized, 0},
		{"not json", `{"accountId":`, signWith(secret), false, http.StatusBadRequest, 0},
		{"no eventId", strings.Replace(payload("", "job.run.completed"), `"eventId":""`, `"x":1`, 1), signWith(secret), false, http.StatusBadRequest, 0},
		{"unknown event type", payload("wev_8", "job.run.cancelled"), signWith(secret), false, http.StatusBadRequest, 0},
		{"too large", big, signWith(secret), false, http.StatusRequestEntityTooLarge, 0},
		{"jetstream down", payload("wev_9", "job.run.completed"), signWith(secret), true, http.StatusServiceUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			conn, js := natstest.Run(t)
			if err := topology.Ensure(ctx, js, topology.Config{}); err != nil {
				t.Fatalf("topology.Ensure: %v", err)
			}
			r := &Receiver{Secrets: [][]byte{[]byte(secret), []byte("next")}, JS: js, PublishTimeout: 500e6}
			srv := httptest.NewServer(r.Handler())
			defer srv.Close()
			if tt.stopJS {
				if err := conn.Server.DisableJetStream(); err != nil {
					t.Fatalf("DisableJetStream: %v", err)
				}
			}
			if got := post(t, srv.URL, tt.body, tt.sign(tt.body)); got != tt.wantStatus {
				t.Fatalf("POST %s = %d, want %d", tt.name, got, tt.wantStatus)
			}
			if tt.stopJS {
				return
			}
			if got := streamMsgs(t, js, events.StreamRuns); got != tt.wantMsgs {
				t.Errorf("DBT_RUNS messages = %d, want %d", got, tt.wantMsgs)
			}
		})
	}
}

func TestHandleDuplicateStoredOnce(t *testing.T) {
	ctx := t.Context()
	_, js := natstest.Run(t)
	if err := topology.Ensure(ctx, js, topology.Config{}); err != nil {
		t.Fatalf("topology.Ensure: %v", err)
	}
	srv := httptest.NewServer((&Receiver{Secrets: [][]byte{[]byte("k")}, JS: js}).Handler())
	defer srv.Close()
	body := payload("wev_dup", "job.run.completed")
	for i, want := range []int{http.StatusAccepted, http.StatusOK, http.StatusOK} {
		if got := post(t, srv.URL, body, signWith("k")(body)); got != want {
			t.Fatalf("delivery %d: status %d, want %d", i+1, got, want)
		}
	}
	if got := streamMsgs(t, js, events.StreamRuns); got != 1 {
		t.Fatalf("DBT_RUNS messages = %d, want 1", got)
	}
	msg, err := js.Stream(ctx, events.StreamRuns)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := msg.GetLastMsgForSubject(ctx, "dbt.run.1.100.200.300.completed")
	if err != nil {
		t.Fatalf("GetLastMsgForSubject(dbt.run.1.100.200.300.completed): %v", err)
	}
	if got := raw.Header.Get(jetstream.MsgIDHeader); got != "wev_dup" {
		t.Errorf("Nats-Msg-Id = %q, want wev_dup", got)
	}
	ev, err := events.Decode(raw.Data)
	if err != nil {
		t.Fatalf("Decode stored event: %v", err)
	}
	if ev.Type() != events.TypeRunCompleted || ev.ID() != "wev_dup" || string(ev.Data()) != body {
		t.Errorf("stored event type %q id %q data equal to body = %v", ev.Type(), ev.ID(), string(ev.Data()) == body)
	}
}

// TestHandleTrace: a webhook's W3C trace context is continued on its run
// event; without one, the receiver starts a trace only with Tracing on.
func TestHandleTrace(t *testing.T) {
	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name        string
		tracing     bool
		traceparent string
		wantTrace   string // the trace ID wanted; "new" for a fresh one
	}{
		{"continued", false, incoming, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"continued with tracing on", true, incoming, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"none", false, "", ""},
		{"invalid, tracing off", false, "00-xyz", ""},
		{"started", true, "", "new"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			_, js := natstest.Run(t)
			if err := topology.Ensure(ctx, js, topology.Config{}); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer((&Receiver{Secrets: [][]byte{[]byte("k")}, JS: js, Tracing: tt.tracing}).Handler())
			defer srv.Close()
			body := payload(fmt.Sprintf("wev_trace_%d", i), "job.run.completed")
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+dbtcloud.WebhookPath, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", Sign([]byte("k"), []byte(body)))
			if tt.traceparent != "" {
				req.Header.Set("traceparent", tt.traceparent)
				req.Header.Set("tracestate", "vendor=1")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d, want 202", resp.StatusCode)
			}
			stream, err := js.Stream(ctx, events.StreamRuns)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := stream.GetLastMsgForSubject(ctx, "dbt.run.1.100.200.300.completed")
			if err != nil {
				t.Fatal(err)
			}
			ev, err := events.Decode(raw.Data)
			if err != nil {
				t.Fatal(err)
			}
			got := events.TraceOf(ev)
			switch tt.wantTrace {
			case "":
				if got != (events.Trace{}) {
					t.Errorf("run event trace = %+v, want none", got)
				}
			case "new":
				if got.TraceID() == "" || got.State != "" {
					t.Errorf("run event trace = %+v, want a new trace", got)
				}
			default:
				if got.TraceID() != tt.wantTrace || got.Parent == incoming || got.State != "vendor=1" {
					t.Errorf("run event trace = %+v, want trace %s with a new span and the tracestate", got, tt.wantTrace)
				}
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	conn, js := natstest.Run(t)
	if err := topology.Ensure(t.Context(), js, topology.Config{}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&Receiver{JS: js}).Handler())
	defer srv.Close()
	for _, tc := range []struct {
		path string
		want int
	}{{"/healthz", 200}, {"/readyz", 200}} {
		if got := get(t, srv.URL+tc.path); got != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.path, got, tc.want)
		}
	}
	if err := conn.Server.DisableJetStream(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, srv.URL+"/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with JetStream off = %d, want 503", got)
	}
}

func signWith(secret string) func(string) string {
	return func(body string) string { return Sign([]byte(secret), []byte(body)) }
}

func post(t *testing.T, url, body, auth string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url+dbtcloud.WebhookPath, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("Stream(%s): %v", name, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("Stream(%s).Info: %v", name, err)
	}
	return info.State.Msgs
}
