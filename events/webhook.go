package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ID is a dbt Cloud numeric ID. It decodes from a JSON number or a JSON string
// of decimal digits (webhooks send most IDs as strings, the Admin API as
// numbers) and encodes as a number.
type ID int64

// UnmarshalJSON accepts 123, "123" and null (0).
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*id = 0
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decode id: %w", err)
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*id = 0
			return nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("decode id %q: not a decimal integer", truncate(s, 40))
	}
	if n < 0 {
		return fmt.Errorf("decode id %d: negative", n)
	}
	*id = ID(n)
	return nil
}

// RunWebhook is the JSON body dbt Cloud POSTs for a job run event. The run
// CloudEvent carries the body unchanged; this struct is how we read it.
type RunWebhook struct {
	AccountID   ID             `json:"accountId"`
	WebhookID   string         `json:"webhookId"`
	EventID     string         `json:"eventId"`
	Timestamp   time.Time      `json:"timestamp"`
	EventType   string         `json:"eventType"` // job.run.started | job.run.completed | job.run.errored
	WebhookName string         `json:"webhookName"`
	Data        RunWebhookData `json:"data"`
}

// RunWebhookData is the data object of a dbt Cloud run webhook.
type RunWebhookData struct {
	JobID            ID     `json:"jobId"`
	JobName          string `json:"jobName"`
	RunID            ID     `json:"runId"`
	EnvironmentID    ID     `json:"environmentId"`
	EnvironmentName  string `json:"environmentName"`
	DBTVersion       string `json:"dbtVersion"`
	ProjectName      string `json:"projectName"`
	ProjectID        ID     `json:"projectId"`
	RunStatus        string `json:"runStatus"`
	RunStatusCode    int    `json:"runStatusCode"`
	RunStatusMessage string `json:"runStatusMessage"`
	RunReason        string `json:"runReason"`
	RunStartedAt     string `json:"runStartedAt"`
	RunFinishedAt    string `json:"runFinishedAt,omitempty"`
	RunErroredAt     string `json:"runErroredAt,omitempty"`
}

// ErrUnroutable is returned by ParseRunWebhook for a body that is not a run
// webhook we can place on a subject. It is the receiver's 400.
var ErrUnroutable = errors.New("unroutable webhook")

// ParseRunWebhook reads a dbt Cloud run webhook tolerantly: IDs may be JSON
// numbers or strings, and the webhook ID may be spelled webhookId or (older
// docs) webhooksID. It requires eventId, a job.run.* eventType, and the account,
// environment, job and run IDs; projectId, missing from the earliest payloads,
// defaults to 0. Errors wrap ErrUnroutable.
func ParseRunWebhook(body []byte) (RunWebhook, error) {
	var w struct {
		RunWebhook
		WebhooksID string `json:"webhooksID"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return RunWebhook{}, fmt.Errorf("%w: %w", ErrUnroutable, err)
	}
	p := w.RunWebhook
	if p.WebhookID == "" {
		p.WebhookID = w.WebhooksID
	}
	var missing []string
	if p.EventID == "" {
		missing = append(missing, "eventId")
	}
	if p.AccountID == 0 {
		missing = append(missing, "accountId")
	}
	if p.Data.EnvironmentID == 0 {
		missing = append(missing, "data.environmentId")
	}
	if p.Data.JobID == 0 {
		missing = append(missing, "data.jobId")
	}
	if p.Data.RunID == 0 {
		missing = append(missing, "data.runId")
	}
	if len(missing) > 0 {
		return RunWebhook{}, fmt.Errorf("%w: missing %s", ErrUnroutable, strings.Join(missing, ", "))
	}
	if RunKind(p.EventType) == "" {
		return RunWebhook{}, fmt.Errorf("%w: eventType %q is not job.run.started, job.run.completed or job.run.errored", ErrUnroutable, truncate(p.EventType, 64))
	}
	return p, nil
}

// RunKind maps dbt's eventType (job.run.completed) to the subject's last token
// (completed); it is "" for any other event type.
func RunKind(eventType string) string {
	switch eventType {
	case "job.run.started":
		return RunStarted
	case "job.run.completed":
		return RunCompleted
	case "job.run.errored":
		return RunErrored
	}
	return ""
}

// Ref is the run the webhook is about.
func (w RunWebhook) Ref() RunRef {
	return RunRef{
		AccountID:     int64(w.AccountID),
		ProjectID:     int64(w.Data.ProjectID),
		EnvironmentID: int64(w.Data.EnvironmentID),
		JobID:         int64(w.Data.JobID),
		RunID:         int64(w.Data.RunID),
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
