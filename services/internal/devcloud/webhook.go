package devcloud

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Webhook event types.
const (
	EventRunStarted   = "job.run.started"
	EventRunCompleted = "job.run.completed"
	EventRunErrored   = "job.run.errored"
)

// maxRetries is how many times dbt Cloud retries a delivery ("retries
// sending each event five times").
const maxRetries = 5

// webhookBody is a dbt Cloud run webhook, fields in the order of real
// payloads: accountId is a number, the data IDs are strings.
type webhookBody struct {
	AccountID   int64       `json:"accountId"`
	WebhookID   string      `json:"webhookId"`
	EventID     string      `json:"eventId"`
	Timestamp   string      `json:"timestamp"`
	EventType   string      `json:"eventType"`
	WebhookName string      `json:"webhookName"`
	Data        webhookData `json:"data"`
}

type webhookData struct {
	JobID            string `json:"jobId"`
	JobName          string `json:"jobName"`
	RunID            string `json:"runId"`
	EnvironmentID    string `json:"environmentId"`
	EnvironmentName  string `json:"environmentName"`
	DBTVersion       string `json:"dbtVersion"`
	ProjectName      string `json:"projectName"`
	ProjectID        string `json:"projectId"`
	RunStatus        string `json:"runStatus"`
	RunStatusCode    int    `json:"runStatusCode"`
	RunStatusMessage string `json:"runStatusMessage"`
	RunReason        string `json:"runReason"`
	RunStartedAt     string `json:"runStartedAt"`
	RunFinishedAt    string `json:"runFinishedAt,omitempty"`
	RunErroredAt     string `json:"runErroredAt,omitempty"`
}

// webhookPayload renders the body dbt Cloud sends to sub for run; the
// caller holds s.mu.
func (s *Server) webhookPayload(sub *subscription, r *run, eventType, eventID string, now time.Time) ([]byte, error) {
	j := r.job
	d := webhookData{
		JobID: id(j.id), JobName: j.name, RunID: id(r.id), EnvironmentID: id(j.env.id),
		EnvironmentName: j.env.name, DBTVersion: j.env.dbtVersion, ProjectName: j.env.proj.name, ProjectID: id(j.env.proj.id),
		RunStatusMessage: "None", RunReason: "Kicked off by the scheduler",
		RunStartedAt: r.started.UTC().Format(time.RFC3339),
	}
	finished := r.finished.UTC().Format(time.RFC3339)
	switch eventType {
	case EventRunStarted:
		d.RunStatus, d.RunStatusCode = "Running", statusRunning
	case EventRunErrored:
		d.RunStatus, d.RunStatusCode, d.RunErroredAt = "Errored", statusError, finished
		d.RunStatusMessage = "dbt command failed"
	case EventRunCompleted:
		d.RunStatusCode, d.RunFinishedAt = r.status, finished
		switch r.status {
		case statusSuccess:
			d.RunStatus = "Success"
		case statusError:
			d.RunStatus, d.RunStatusMessage = "Errored", "dbt command failed"
		default:
			d.RunStatus, d.RunStatusMessage = "Cancelled", "Cancelled by user." // unverified text
		}
	default:
		return nil, fmt.Errorf("devcloud: event type %q is not %s, %s or %s", eventType, EventRunStarted, EventRunCompleted, EventRunErrored)
	}
	return encodeWebhook(webhookBody{
		AccountID: j.acct().id, WebhookID: sub.id, EventID: eventID,
		Timestamp: now.UTC().Format(time.RFC3339Nano), EventType: eventType, WebhookName: sub.name, Data: d,
	})
}

// testPayload is the sample job.run.completed delivery of "Test Endpoint":
// run and job IDs that exist nowhere in the world. The caller holds s.mu.
func (s *Server) testPayload(a *account, sub *subscription, eventID string, now time.Time) ([]byte, error) {
	jobID, runID := int64(70403000000001), int64(70403000000002)
	for s.findJob(jobID) != nil || s.findRun(runID) != nil {
		jobID, runID = jobID+2, runID+2
	}
	start := now.Add(-2 * time.Minute).UTC().Format(time.RFC3339)
	return encodeWebhook(webhookBody{
		AccountID: a.id, WebhookID: sub.id, EventID: eventID, Timestamp: now.UTC().Format(time.RFC3339Nano),
		EventType: EventRunCompleted, WebhookName: sub.name, Data: webhookData{
			JobID: id(jobID), JobName: "Test job", RunID: id(runID), EnvironmentID: id(runID + 2), EnvironmentName: "Test environment",
			DBTVersion: "1.10.6", ProjectName: "Test project", ProjectID: id(runID + 4), RunStatus: "Success",
			RunStatusCode: statusSuccess, RunStatusMessage: "None", RunReason: "Test webhook",
			RunStartedAt: start, RunFinishedAt: now.UTC().Format(time.RFC3339),
		},
	})
}

func encodeWebhook(b webhookBody) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(b)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

func id(v int64) string { return strconv.FormatInt(v, 10) }

// Sign is the Authorization header dbt Cloud sends: the lowercase hex
// HMAC-SHA256 of the raw body under the webhook secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Deliver POSTs one signed eventType webhook for the configured run to WebhookURL as dbt Cloud does: each attempt
// has WebhookTimeout (10 s), a non-2xx answer or an error is retried up to
// 5 times with the same eventId and the same bytes, and Deliver returns
// after the first 2xx. It returns the eventId even when every attempt
// failed. The delivery counts on WebhookURL's subscription like any other.
func (s *Server) Deliver(ctx context.Context, eventType string) (eventID string, err error) {
	s.mu.Lock()
	sub, r := s.legacySub, s.legacyRun()
	if sub == nil || r == nil {
		s.mu.Unlock()
		return "", errors.New("devcloud: no webhook URL configured")
	}
	eventID = "wev_" + ksuid()
	body, err := s.webhookPayload(sub, r, eventType, eventID, time.Now())
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	return eventID, s.deliver(ctx, sub, body, eventType, eventID)
}

// legacyRun is the configured run: Config.RunID, or in a world of
// Accounts the highest-ID complete run of the first job. The caller holds
// s.mu.
func (s *Server) legacyRun() *run {
	if len(s.cfg.Accounts) == 0 {
		return s.findRun(s.cfg.RunID)
	}
	if len(s.accounts) == 0 || len(s.accounts[0].jobs) == 0 {
		return nil
	}
	j := s.accounts[0].jobs[0]
	for i := len(s.runs) - 1; i >= 0; i-- {
		if r := s.runs[i]; r.job == j && r.complete() {
			return r
		}
	}
	return nil
}

// ksuid is 27 random base-62 characters, the shape of dbt's wev_/wsu_ IDs.
func ksuid() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 27)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
