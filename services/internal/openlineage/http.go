package openlineage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// LineagePath is where a Marquez-compatible backend takes RunEvents.
const LineagePath = "/api/v1/lineage"

// Transport POSTs OpenLineage RunEvents to a lineage backend. It is the
// handler of the durable consumer on DBT_OPENLINEAGE (see topology): one
// event at a time, in stream order, so a run's events arrive in order.
type Transport struct {
	// URL is the backend: a base URL (http://marquez:5000, to which
	// /api/v1/lineage is appended) or, when it has a path, the endpoint itself.
	URL string
	// APIKey, if set, is sent as "Authorization: Bearer <key>". It never
	// appears in errors or logs.
	APIKey string
	// Client defaults to an http.Client with a 30 s timeout.
	Client *http.Client
}

// Endpoint is the URL events are POSTed to.
func (t *Transport) Endpoint() (string, error) {
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("openlineage: URL %q: want http(s)://host[:port][/path]", redactURL(t.URL))
	}
	if u.User != nil {
		return "", errors.New("openlineage: URL: put no credentials in the URL; use HARVESTER_OPENLINEAGE_API_KEY")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = LineagePath
	}
	return u.String(), nil
}

// Shown is the endpoint as logs and errors show it: without its query,
// where a backend's token might be.
func (t *Transport) Shown() string {
	e, err := t.Endpoint()
	if err != nil {
		return redactURL(t.URL)
	}
	u, _ := url.Parse(e)
	u.RawQuery = ""
	return u.String()
}

// redactURL keeps only the scheme and host of a URL that does not parse
// well, so that nothing secret in it is echoed.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Scheme + "://" + u.Host
	}
	return "(unparsable)"
}

// Handle is the consume.Handler of the DBT_OPENLINEAGE consumer: it POSTs the
// message's RunEvent (the CloudEvent's data). A message that is not an
// OpenLineage CloudEvent, or an event the backend rejects as invalid (400,
// 413, 422), is permanent; everything else (the backend down, 5xx, 429,
// 401/403 until the key is fixed) is retried, honouring Retry-After.
func (t *Transport) Handle(ctx context.Context, msg jetstream.Msg) error {
	ev, err := events.Decode(msg.Data())
	if err != nil {
		return retry.Permanent(err)
	}
	if ev.Type() != events.TypeOpenLineageRun {
		return retry.Permanent(fmt.Errorf("openlineage: event %s has type %s, not %s", ev.ID(), ev.Type(), events.TypeOpenLineageRun))
	}
	if err := t.Post(ctx, ev.Data()); err != nil {
		return fmt.Errorf("event %s: %w", ev.ID(), err)
	}
	return nil
}

// Post sends one RunEvent (its JSON) and classifies the answer.
func (t *Transport) Post(ctx context.Context, runEvent []byte) error {
	endpoint, err := t.Endpoint()
	if err != nil {
		return err // a configuration error: retried until fixed, never dropped
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(runEvent))
	if err != nil {
		return fmt.Errorf("openlineage: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if t.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.APIKey)
	}
	client := t.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is known; keep the cause
		}
		return fmt.Errorf("openlineage: POST %s: %w", t.Shown(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) // what the backend says, for the log
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("openlineage: POST %s: %s: %s", t.Shown(), resp.Status, strings.TrimSpace(string(body)))
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return retry.Permanent(err)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return retry.After(d, err)
		}
	}
	return err
}

// retryAfter reads a Retry-After header in seconds (capped at 10 minutes).
func retryAfter(v string) (time.Duration, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false
	}
	return min(time.Duration(n)*time.Second, 10*time.Minute), true
}
