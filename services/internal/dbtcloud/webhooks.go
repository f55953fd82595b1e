package dbtcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Webhook event types a subscription can name.
const (
	EventRunStarted   = "job.run.started"
	EventRunCompleted = "job.run.completed"
	EventRunErrored   = "job.run.errored"
)

// Secret is a value that must never be printed: fmt (every verb), JSON and
// slog all show "[redacted]" (or nothing when it is empty). Reveal returns
// the value itself.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret itself, for storing it where it belongs.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Format makes every fmt verb, %#v and %x included, print String().
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// MarshalJSON writes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// LogValue logs the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Subscription is a v3 webhook subscription. dbt's docs and its OpenAPI spec
// disagree on several types, so decoding accepts both: job_ids as strings or
// numbers, account_id as a string or a number, and created_at, updated_at
// and dispatched_at as strings of epoch microseconds (or RFC 3339).
type Subscription struct {
	ID                string // "wsu_…"
	AccountID         int64
	AccountIdentifier string // "act_…"
	Name              string
	Description       string
	ClientURL         string
	EventTypes        []string
	JobIDs            []int64 // empty = every job of the account
	Active            bool
	// HTTPStatusCode is the last status code the client URL answered; "0"
	// means never dispatched.
	HTTPStatusCode   string
	DeactivateReason string // why dbt deactivated the subscription, if it did
	CreatedAt        time.Time
	UpdatedAt        time.Time
	DispatchedAt     time.Time // the last delivery; zero if never
	// HMACSecret signs the deliveries; dbt returns it only from
	// CreateSubscription.
	HMACSecret Secret
}

// UnmarshalJSON decodes a subscription in either documented shape.
func (s *Subscription) UnmarshalJSON(b []byte) error {
	var w struct {
		ID                flexString   `json:"id"`
		AccountID         flexInt      `json:"account_id"`
		AccountIdentifier flexString   `json:"account_identifier"`
		Name              flexString   `json:"name"`
		Description       flexString   `json:"description"`
		ClientURL         flexString   `json:"client_url"`
		EventTypes        []flexString `json:"event_types"`
		JobIDs            []flexInt    `json:"job_ids"`
		Active            bool         `json:"active"`
		HTTPStatusCode    flexString   `json:"http_status_code"`
		DeactivateReason  flexString   `json:"deactivate_reason"`
		CreatedAt         epochTime    `json:"created_at"`
		UpdatedAt         epochTime    `json:"updated_at"`
		DispatchedAt      epochTime    `json:"dispatched_at"`
		HMACSecret        flexString   `json:"hmac_secret"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = Subscription{
		ID: string(w.ID), AccountID: int64(w.AccountID), AccountIdentifier: string(w.AccountIdentifier),
		Name: string(w.Name), Description: string(w.Description), ClientURL: string(w.ClientURL),
		Active: w.Active, HTTPStatusCode: string(w.HTTPStatusCode), DeactivateReason: string(w.DeactivateReason),
		CreatedAt: time.Time(w.CreatedAt), UpdatedAt: time.Time(w.UpdatedAt), DispatchedAt: time.Time(w.DispatchedAt),
		HMACSecret: Secret(w.HMACSecret),
	}
	for _, e := range w.EventTypes {
		s.EventTypes = append(s.EventTypes, string(e))
	}
	for _, id := range w.JobIDs {
		s.JobIDs = append(s.JobIDs, int64(id))
	}
	return nil
}

// SubscriptionInput is what CreateSubscription and UpdateSubscription send.
// Update replaces the whole subscription (PUT), so send every field.
type SubscriptionInput struct {
	Name        string
	Description string
	ClientURL   string
	EventTypes  []string // one or more of EventRunStarted, EventRunCompleted, EventRunErrored
	JobIDs      []int64  // empty = every job of the account
	Active      bool
}

// body is the JSON request; job_ids are integers on write, and an empty
// description is left out (the spec gives it a minimum length of 1).
func (in SubscriptionInput) body(id string) (any, error) {
	switch {
	case strings.TrimSpace(in.Name) == "":
		return nil, errors.New("a webhook subscription needs a name")
	case strings.TrimSpace(in.ClientURL) == "":
		return nil, errors.New("a webhook subscription needs a client URL")
	case len(in.EventTypes) == 0:
		return nil, errors.New("a webhook subscription needs at least one event type")
	}
	jobs := in.JobIDs
	if jobs == nil {
		jobs = []int64{}
	}
	return struct {
		ID          string   `json:"id,omitempty"`
		Name        string   `json:"name"`
		Description string   `json:"description,omitempty"`
		ClientURL   string   `json:"client_url"`
		EventTypes  []string `json:"event_types"`
		JobIDs      []int64  `json:"job_ids"`
		Active      bool     `json:"active"`
	}{id, in.Name, in.Description, in.ClientURL, in.EventTypes, jobs, in.Active}, nil
}

// TestResult is what dbt reports after sending a test delivery. The docs
// show verification_status_code and verification_error, the OpenAPI spec
// event_id; whichever the answer holds is filled in.
type TestResult struct {
	EventID                string
	VerificationStatusCode string // the client URL's answer, e.g. "200"
	VerificationError      string // "" when none
}

// ListSubscriptions returns every webhook subscription of the account
// (v3, paginated with limit and offset).
func (c *Client) ListSubscriptions(ctx context.Context) ([]Subscription, error) {
	subs, err := listAll[Subscription](ctx, c, "v3", "webhooks/subscriptions", nil)
	if err != nil {
		return nil, fmt.Errorf("list webhook subscriptions: %w", err)
	}
	return subs, nil
}

// CreateSubscription creates a webhook subscription; dbt answers 201 with
// the subscription and its HMACSecret, the only time it shows the secret.
func (c *Client) CreateSubscription(ctx context.Context, in SubscriptionInput) (Subscription, error) {
	body, err := in.body("")
	if err != nil {
		return Subscription{}, fmt.Errorf("create webhook subscription: %w", retry.Permanent(err))
	}
	var s Subscription
	if _, err := c.doJSON(ctx, call{method: http.MethodPost, api: "v3", rel: "webhooks/subscriptions", body: body}, &s); err != nil {
		return Subscription{}, fmt.Errorf("create webhook subscription %q: %w", in.Name, err)
	}
	return s, nil
}

// GetSubscription returns one webhook subscription; an unknown ID is an
// error wrapping ErrNotFound.
func (c *Client) GetSubscription(ctx context.Context, id string) (Subscription, error) {
	var s Subscription
	if _, err := c.doJSON(ctx, call{method: http.MethodGet, api: "v3", rel: subPath(id, "")}, &s); err != nil {
		return Subscription{}, fmt.Errorf("get webhook subscription %s: %w", id, err)
	}
	return s, nil
}

// UpdateSubscription replaces a subscription's settings with in (PUT, the
// full object). Setting Active reactivates a subscription dbt deactivated.
func (c *Client) UpdateSubscription(ctx context.Context, id string, in SubscriptionInput) (Subscription, error) {
	body, err := in.body(id)
	if err != nil {
		return Subscription{}, fmt.Errorf("update webhook subscription %s: %w", id, retry.Permanent(err))
	}
	var s Subscription
	if _, err := c.doJSON(ctx, call{method: http.MethodPut, api: "v3", rel: subPath(id, ""), body: body}, &s); err != nil {
		return Subscription{}, fmt.Errorf("update webhook subscription %s: %w", id, err)
	}
	return s, nil
}

// DeleteSubscription deletes a webhook subscription.
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	if _, err := c.doJSON(ctx, call{method: http.MethodDelete, api: "v3", rel: subPath(id, "")}, nil); err != nil {
		return fmt.Errorf("delete webhook subscription %s: %w", id, err)
	}
	return nil
}

// TestSubscription asks dbt to send a test delivery (with run and job IDs
// that do not exist) to the subscription's client URL, and reports how the
// URL answered. It is not retried in the client: each try sends a delivery.
func (c *Client) TestSubscription(ctx context.Context, id string) (TestResult, error) {
	var w struct {
		EventID                flexString `json:"event_id"`
		VerificationStatusCode flexString `json:"verification_status_code"`
		VerificationError      flexString `json:"verification_error"`
	}
	// A POST-like GET: one attempt only.
	if _, err := c.doJSON(ctx, call{method: http.MethodGet, api: "v3", rel: subPath(id, "/test"), once: true}, &w); err != nil {
		return TestResult{}, fmt.Errorf("test webhook subscription %s: %w", id, err)
	}
	return TestResult{EventID: string(w.EventID), VerificationStatusCode: string(w.VerificationStatusCode), VerificationError: string(w.VerificationError)}, nil
}

// subPath is the singular path of one subscription (no trailing slash).
func subPath(id, suffix string) string {
	return "webhooks/subscription/" + url.PathEscape(id) + suffix
}

// flexString decodes a JSON string; null is "", a number or boolean its
// text, an object or array its compact JSON.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		*f = flexString(buf.String())
	}
	return nil
}

// flexInt decodes a JSON integer or a string holding one; null and "" are 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(s)), 10, 64)
	if err != nil {
		return fmt.Errorf("dbtcloud: %q is not an integer ID", truncate(string(s), 40))
	}
	*f = flexInt(n)
	return nil
}

// epochTime decodes the v3 webhook timestamps: a string (or number) of
// epoch microseconds, milliseconds or seconds, told apart by size, or any
// layout ParseTime knows. null, "" and "0" are the zero time.
type epochTime time.Time

func (t *epochTime) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	v := strings.TrimSpace(string(s))
	if v == "" || v == "0" {
		*t = epochTime{}
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		switch {
		case n > 1e14:
			*t = epochTime(time.UnixMicro(n).UTC())
		case n > 1e11:
			*t = epochTime(time.UnixMilli(n).UTC())
		default:
			*t = epochTime(time.Unix(n, 0).UTC())
		}
		return nil
	}
	p, err := ParseTime(v)
	*t = epochTime(p)
	return err
}
