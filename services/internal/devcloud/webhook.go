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
	"io"
	"net/http"
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

// webhookPayload renders the body dbt Cloud sends for the configured run.
func (s *Server) webhookPayload(eventType, eventID string, now time.Time) ([]byte, error) {
	run := s.runs[len(s.runs)-1]
	_, times := s.runSteps(run)
	c := s.cfg
	d := webhookData{
		JobID: id(c.JobID), JobName: c.JobName, RunID: id(run.id), EnvironmentID: id(c.EnvironmentID),
		EnvironmentName: c.EnvironmentName, DBTVersion: c.DBTVersion, ProjectName: c.ProjectName, ProjectID: id(c.ProjectID),
		RunStatusMessage: "None", RunReason: "Kicked off by the scheduler",
		RunStartedAt: times[0].start.UTC().Format(time.RFC3339),
	}
	finished := run.finished.UTC().Format(time.RFC3339)
	switch eventType {
	case EventRunStarted:
		d.RunStatus, d.RunStatusCode = "Running", statusRunning
	case EventRunErrored:
		d.RunStatus, d.RunStatusCode, d.RunErroredAt = "Errored", statusError, finished
	case EventRunCompleted:
		d.RunStatusCode, d.RunFinishedAt = run.status, finished
		switch run.status {
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
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(webhookBody{
		AccountID: c.AccountID, WebhookID: s.webhookID, EventID: eventID,
		Timestamp: now.UTC().Format(time.RFC3339Nano), EventType: eventType, WebhookName: "devcloud", Data: d,
	})
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

// Deliver POSTs one signed eventType webhook for the configured run to
// WebhookURL as dbt Cloud does: each attempt has WebhookTimeout (10 s), a
// non-2xx answer or an error is retried up to 5 times with the same
// eventId and the same bytes, and Deliver returns after the first 2xx. It
// returns the eventId even when every attempt failed.
func (s *Server) Deliver(ctx context.Context, eventType string) (eventID string, err error) {
	if s.cfg.WebhookURL == "" {
		return "", errors.New("devcloud: no webhook URL configured")
	}
	eventID = "wev_" + ksuid()
	body, err := s.webhookPayload(eventType, eventID, time.Now())
	if err != nil {
		return "", err
	}
	sig := Sign(s.cfg.WebhookSecret, body)
	backoff := s.cfg.WebhookBackoff
	for attempt := 1; ; attempt++ {
		err = s.post(ctx, body, sig)
		if err == nil {
			s.log.Info("devcloud: webhook delivered", "event_type", eventType, "event_id", eventID, "attempt", attempt)
			return eventID, nil
		}
		s.log.Warn("devcloud: webhook attempt failed", "event_type", eventType, "event_id", eventID, "attempt", attempt, "err", err)
		if attempt > maxRetries {
			return eventID, fmt.Errorf("devcloud: deliver %s %s: %d attempts failed, last: %w", eventType, eventID, attempt, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return eventID, fmt.Errorf("devcloud: deliver %s %s: %w", eventType, eventID, ctx.Err())
		case <-t.C:
		}
		backoff *= 2
	}
}

// post makes one delivery attempt.
func (s *Server) post(ctx context.Context, body []byte, sig string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", sig)
	req.Header.Set("User-Agent", "devcloud-webhooks")
	resp, err := s.hook.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
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
