package devcloud

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// subscription is a v3 webhook subscription and its delivery state.
type subscription struct {
	id, name, description, url string
	secret                     string
	events                     []string
	jobIDs                     []int64
	active                     bool
	created, updated           time.Time
	httpStatus                 string    // the last answer's code; "0" never dispatched (or no answer)
	dispatched                 time.Time // the last attempt
	failures                   int       // consecutive failed deliveries
	deliveries                 int       // deliveries that got a 2xx
	deactivateReason           string
}

func (sub *subscription) wantsJob(id int64) bool {
	return len(sub.jobIDs) == 0 || slices.Contains(sub.jobIDs, id)
}

// Subscription is a snapshot of a webhook subscription, for tests and
// commands. It never holds the secret.
type Subscription struct {
	ID, Name, Description, ClientURL string
	AccountID                        int64
	EventTypes                       []string
	JobIDs                           []int64
	Active                           bool
	DeactivateReason                 string
	HTTPStatusCode                   string // "0" until dispatched
	DispatchedAt                     time.Time
	ConsecutiveFailures              int // failed deliveries (each of up to 1+5 attempts) since the last success
	Delivered                        int // deliveries that got a 2xx
}

// Subscriptions returns every account's subscriptions, in creation order.
func (s *Server) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Subscription
	for _, a := range s.accounts {
		for _, sub := range a.subs {
			out = append(out, Subscription{
				ID: sub.id, Name: sub.name, Description: sub.description, ClientURL: sub.url, AccountID: a.id,
				EventTypes: slices.Clone(sub.events), JobIDs: slices.Clone(sub.jobIDs), Active: sub.active,
				DeactivateReason: sub.deactivateReason, HTTPStatusCode: sub.httpStatus, DispatchedAt: sub.dispatched,
				ConsecutiveFailures: sub.failures, Delivered: sub.deliveries,
			})
		}
	}
	return out
}

// subInput is a create or update request, checked.
type subInput struct {
	name, description, url string
	events                 []string
	jobIDs                 []int64
	active                 bool
}

func (in *subInput) check() error {
	if strings.TrimSpace(in.name) == "" {
		return errors.New("name: This field is required.") //nolint:staticcheck // dbt Cloud's wording
	}
	if u, err := url.Parse(in.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("client_url: Enter a valid URL.") //nolint:staticcheck // dbt Cloud's wording
	}
	if len(in.events) == 0 {
		in.events = []string{EventRunStarted, EventRunCompleted, EventRunErrored}
	}
	for _, e := range in.events {
		if e != EventRunStarted && e != EventRunCompleted && e != EventRunErrored {
			return fmt.Errorf("event_types: %q is not a valid choice.", e) //nolint:staticcheck // dbt Cloud's wording
		}
	}
	return nil
}

// addSub creates a subscription of a; the caller holds s.mu (or builds).
func (s *Server) addSub(a *account, in subInput, secret string, now time.Time) (*subscription, error) {
	if err := in.check(); err != nil {
		return nil, fmt.Errorf("devcloud: webhook %q: %w", in.name, err)
	}
	if secret == "" {
		b := make([]byte, 20)
		_, _ = rand.Read(b)
		secret = hex.EncodeToString(b)
	}
	now = now.UTC().Truncate(time.Microsecond)
	sub := &subscription{id: "wsu_" + ksuid(), name: in.name, description: in.description, url: in.url, secret: secret,
		events: in.events, jobIDs: in.jobIDs, active: in.active, created: now, updated: now, httpStatus: "0"}
	a.subs = append(a.subs, sub)
	return sub, nil
}

// subObject is a v3 Subscription as dbt's docs show it: job_ids and
// account_id as strings (the Terraform provider also reads job_ids as
// strings; the OpenAPI spec says integers), timestamps as strings of
// epoch microseconds, http_status_code a string ("0" = never dispatched).
type subObject struct {
	ID                string   `json:"id"`
	AccountIdentifier string   `json:"account_identifier"`
	Name              string   `json:"name"`
	Description       string   `json:"description"`
	JobIDs            []string `json:"job_ids"`
	EventTypes        []string `json:"event_types"`
	ClientURL         string   `json:"client_url"`
	HMACSecret        *string  `json:"hmac_secret,omitempty"` // only in the create answer
	Active            bool     `json:"active"`
	CreatedAt         string   `json:"created_at"`
	UpdatedAt         string   `json:"updated_at"`
	AccountID         string   `json:"account_id"`
	HTTPStatusCode    string   `json:"http_status_code"`
	DispatchedAt      *string  `json:"dispatched_at"`
	DeactivateReason  *string  `json:"deactivate_reason"`
}

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

func (a *account) subJSON(sub *subscription, withSecret bool) subObject {
	o := subObject{ID: sub.id, AccountIdentifier: a.identifier, Name: sub.name, Description: sub.description,
		JobIDs: []string{}, EventTypes: slices.Clone(sub.events), ClientURL: sub.url, Active: sub.active,
		CreatedAt: micros(sub.created), UpdatedAt: micros(sub.updated), AccountID: id(a.id), HTTPStatusCode: sub.httpStatus}
	for _, j := range sub.jobIDs {
		o.JobIDs = append(o.JobIDs, id(j))
	}
	if withSecret {
		o.HMACSecret = &sub.secret
	}
	if !sub.dispatched.IsZero() {
		d := micros(sub.dispatched)
		o.DispatchedAt = &d
	}
	if sub.deactivateReason != "" {
		o.DeactivateReason = &sub.deactivateReason
	}
	return o
}

// writeV3 answers with the v3 webhook envelope.
func writeV3(w http.ResponseWriter, code int, data, extra any) {
	empty := ""
	writeJSON(w, code, envelope{Status: status{Code: code, IsSuccess: true, UserMessage: "Success!", DeveloperMessage: &empty}, Data: data, Extra: extra})
}

func (s *Server) listSubs(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := paging(w, r.URL.Query().Get("limit"), r.URL.Query().Get("offset"), 10)
	if !ok {
		return
	}
	s.mu.Lock()
	a := s.requestAccount(r)
	subs := a.subs
	data := []subObject{}
	for _, sub := range subs[min(offset, len(subs)):min(offset+limit, len(subs))] {
		data = append(data, a.subJSON(sub, false))
	}
	total := len(subs)
	s.mu.Unlock()
	writeV3(w, http.StatusOK, data, map[string]any{
		"pagination": map[string]int{"count": len(data), "total_count": total},
		"filters":    map[string]int{"offset": offset, "limit": limit},
	})
}

// readSubInput decodes a SubscriptionRequest; job_ids may be integers or
// strings.
func readSubInput(w http.ResponseWriter, r *http.Request) (subInput, bool) {
	var req struct {
		Name        string            `json:"name"`
		Description string            `json:"description"`
		ClientURL   string            `json:"client_url"`
		EventTypes  []string          `json:"event_types"`
		JobIDs      []json.RawMessage `json:"job_ids"`
		Active      *bool             `json:"active"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return subInput{}, false
	}
	in := subInput{name: req.Name, description: req.Description, url: req.ClientURL, events: req.EventTypes}
	if req.Active == nil {
		writeError(w, http.StatusBadRequest, "active: This field is required.")
		return subInput{}, false
	}
	in.active = *req.Active
	for _, raw := range req.JobIDs {
		n, err := strconv.ParseInt(strings.Trim(string(raw), `"`), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("job_ids: %s is not a valid integer.", raw))
			return subInput{}, false
		}
		in.jobIDs = append(in.jobIDs, n)
	}
	if len(req.EventTypes) == 0 {
		writeError(w, http.StatusBadRequest, "event_types: This list may not be empty.")
		return subInput{}, false
	}
	if err := in.check(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return subInput{}, false
	}
	return in, true
}

func (s *Server) createSub(w http.ResponseWriter, r *http.Request) {
	in, ok := readSubInput(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	a := s.requestAccount(r)
	sub, err := s.addSub(a, in, "", time.Now())
	var o subObject
	if err == nil {
		o = a.subJSON(sub, true)
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.log.Info("devcloud: webhook subscription created", "id", sub.id, "url", sub.url)
	writeV3(w, http.StatusCreated, o, nil)
}

// withSub runs fn on the path's subscription under s.mu, or answers 404.
func (s *Server) withSub(w http.ResponseWriter, r *http.Request, fn func(a *account, i int, sub *subscription)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.requestAccount(r)
	i := slices.IndexFunc(a.subs, func(sub *subscription) bool { return sub.id == r.PathValue("sub") })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Webhook subscription not found.")
		return false
	}
	fn(a, i, a.subs[i])
	return true
}

func (s *Server) getSub(w http.ResponseWriter, r *http.Request) {
	var o subObject
	if s.withSub(w, r, func(a *account, _ int, sub *subscription) { o = a.subJSON(sub, false) }) {
		writeV3(w, http.StatusOK, o, nil)
	}
}

func (s *Server) updateSub(w http.ResponseWriter, r *http.Request) {
	in, ok := readSubInput(w, r)
	if !ok {
		return
	}
	var o subObject
	if s.withSub(w, r, func(a *account, _ int, sub *subscription) {
		sub.name, sub.description, sub.url, sub.events, sub.jobIDs = in.name, in.description, in.url, in.events, in.jobIDs
		if in.active && !sub.active { // reactivated by hand
			sub.failures, sub.deactivateReason = 0, ""
		}
		sub.active = in.active
		sub.updated = time.Now().UTC()
		o = a.subJSON(sub, false)
	}) {
		writeV3(w, http.StatusOK, o, nil)
	}
}

func (s *Server) deleteSub(w http.ResponseWriter, r *http.Request) {
	var id string
	if s.withSub(w, r, func(a *account, i int, sub *subscription) {
		id = sub.id
		a.subs = slices.Delete(a.subs, i, i+1)
	}) {
		// DeleteSubscriptionResponseEnvelope: status has code and is_success only.
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]string{"id": id}, "status": map[string]any{"code": 200, "is_success": true}})
	}
}

// testSub sends one sample job.run.completed delivery, with run and job
// IDs that do not exist, as dbt's "Test Endpoint" does, and reports the
// answer in both documented shapes: the spec's event_id and the docs'
// verification_status_code and verification_error.
func (s *Server) testSub(w http.ResponseWriter, r *http.Request) {
	var sub *subscription
	var acct *account
	if !s.withSub(w, r, func(a *account, _ int, x *subscription) { acct, sub = a, x }) {
		return
	}
	eventID := "wev_" + ksuid()
	s.mu.Lock()
	body, err := s.testPayload(acct, sub, eventID, time.Now())
	secret, target := sub.secret, sub.url
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Internal server error.")
		return
	}
	code, err := s.post(r.Context(), target, body, Sign(secret, body))
	s.mu.Lock()
	sub.httpStatus, sub.dispatched = strconv.Itoa(code), time.Now().UTC()
	s.mu.Unlock()
	var verr *string
	if err != nil {
		msg := err.Error()
		verr = &msg
	}
	writeV3(w, http.StatusOK, map[string]any{"event_id": eventID, "verification_status_code": strconv.Itoa(code), "verification_error": verr}, nil)
}

// deliver POSTs one event to sub as dbt Cloud does: each attempt has
// WebhookTimeout (10 s), a non-2xx answer or an error is retried up to 5
// times with the same eventId and bytes. Every attempt records the
// answer's code and time; a delivery whose attempts all failed counts
// toward deactivation, a successful one resets the count.
func (s *Server) deliver(ctx context.Context, sub *subscription, body []byte, eventType, eventID string) error {
	s.mu.Lock()
	target, sig := sub.url, Sign(sub.secret, body)
	s.mu.Unlock()
	backoff := s.cfg.WebhookBackoff
	for attempt := 1; ; attempt++ {
		code, err := s.post(ctx, target, body, sig)
		s.mu.Lock()
		sub.httpStatus, sub.dispatched = strconv.Itoa(code), time.Now().UTC()
		if err == nil {
			sub.failures = 0
			sub.deliveries++
		} else if attempt > maxRetries {
			sub.failures++
			if sub.failures >= s.cfg.DeactivateAfter && sub.active {
				sub.active = false
				sub.deactivateReason = fmt.Sprintf("Deactivated after %d consecutive failed deliveries; last response: %s", sub.failures, err)
				s.log.Warn("devcloud: webhook subscription deactivated", "id", sub.id, "failures", sub.failures)
			}
		}
		s.mu.Unlock()
		if err == nil {
			s.log.Info("devcloud: webhook delivered", "event_type", eventType, "event_id", eventID, "attempt", attempt)
			return nil
		}
		s.log.Warn("devcloud: webhook attempt failed", "event_type", eventType, "event_id", eventID, "attempt", attempt, "err", err)
		if attempt > maxRetries {
			return fmt.Errorf("devcloud: deliver %s %s: %d attempts failed, last: %w", eventType, eventID, attempt, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("devcloud: deliver %s %s: %w", eventType, eventID, ctx.Err())
		case <-t.C:
		}
		backoff *= 2
	}
}

// post makes one delivery attempt; code is 0 when there was no answer.
func (s *Server) post(ctx context.Context, target string, body []byte, sig string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", sig)
	req.Header.Set("User-Agent", "devcloud-webhooks")
	resp, err := s.hook.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
