package dbtcloud

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// call is one API request.
type call struct {
	method string
	api    string // "v2" or "v3"
	rel    string // path below /api/<api>/accounts/<id>/
	query  url.Values
	body   any    // sent as JSON when non-nil
	accept string // default application/json
	once   bool   // never retried, even a GET (it has an effect, like a test delivery)
}

// extra is the envelope's pagination state.
type extra struct {
	Pagination struct {
		Count      int `json:"count"`
		TotalCount int `json:"total_count"`
	} `json:"pagination"`
}

// getJSON GETs a v2 account-relative path and decodes the envelope's data
// into out.
func (c *Client) getJSON(ctx context.Context, rel string, q url.Values, out any) (extra, error) {
	return c.doJSON(ctx, call{method: http.MethodGet, api: "v2", rel: rel, query: q}, out)
}

// doJSON sends k, checks the status and decodes the envelope's data into
// out (nil: data is not read). It reads and closes the body. A GET is tried
// again, whole, while it fails with a retryable error (see retryable).
func (c *Client) doJSON(ctx context.Context, k call, out any) (extra, error) {
	var ex extra
	err := c.retrying(ctx, k, func() error {
		resp, path, err := c.send(ctx, k)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var env struct {
			Data  json.RawMessage `json:"data"`
			Extra extra           `json:"extra"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONBody)).Decode(&env); err != nil {
			return fmt.Errorf("decode %s: %w", path, err) // usually a cut connection: transient
		}
		if out != nil {
			if err := json.Unmarshal(env.Data, out); err != nil {
				return fmt.Errorf("decode %s data: %w", path, err)
			}
		}
		ex = env.Extra
		return nil
	})
	return ex, err
}

// open sends k and returns its 2xx response, whose body the caller reads
// and closes. A GET is tried again while it fails with a retryable error
// before the response is handed over.
func (c *Client) open(ctx context.Context, k call) (*http.Response, error) {
	var resp *http.Response
	err := c.retrying(ctx, k, func() error {
		var err error
		resp, _, err = c.send(ctx, k) //nolint:bodyclose // open's caller reads and closes it
		return err
	})
	return resp, err
}

// retrying runs try up to maxAttempts times for a GET, pausing with capped
// exponential backoff and jitter, while its error is retryable and ctx is
// live. The last error is returned as it is (a 5xx stays transient).
func (c *Client) retrying(ctx context.Context, k call, try func() error) error {
	attempts := c.maxAttempts
	if k.method != http.MethodGet || k.once {
		attempts = 1
	}
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil || attempt >= attempts || !retryable(ctx, err) {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return err
		}
		if sleepCtx(ctx, retry.Backoff(uint64(attempt), c.retryBackoff, 16*c.retryBackoff)) != nil {
			return err
		}
	}
}

// retryable reports whether a new attempt may succeed where err failed: a
// 5xx, a transport error (timeout, reset, refused) or a cut body, but not a
// classified 4xx or 429, a TLS certificate error, a JSON type mismatch, or
// anything once ctx is done.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || retry.IsPermanent(err) {
		return false
	}
	if _, ok := retry.Delay(err); ok {
		return false
	}
	var api *APIError
	if errors.As(err, &api) {
		return api.StatusCode >= 500
	}
	var typeErr *json.UnmarshalTypeError
	var certErr *tls.CertificateVerificationError
	return !errors.As(err, &typeErr) && !errors.As(err, &certErr)
}

// send waits for the limiter, sends one request and returns a 2xx
// response, whose body the caller closes; any other answer is read (a
// little), closed and classified. A 429 starts the cooldown that every
// request of this Client then waits for.
func (c *Client) send(ctx context.Context, k call) (*http.Response, string, error) {
	u := *c.base
	u.Path = fmt.Sprintf("%s/api/%s/accounts/%d/%s", c.base.Path, k.api, c.accountID, k.rel)
	u.RawQuery = k.query.Encode()
	path := u.Path
	var body io.Reader
	if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return nil, path, fmt.Errorf("encode request for %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u.String(), body)
	if err != nil {
		return nil, path, fmt.Errorf("build request for %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token())
	req.Header.Set("Accept", cmp.Or(k.accept, "application/json"))
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := c.lim.wait(ctx); err != nil {
		return nil, path, fmt.Errorf("dbt Cloud %s %s: %w", k.method, path, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.metrics.APIRequest(Endpoint(k.method, k.api, k.rel), 0)
		return nil, path, fmt.Errorf("dbt Cloud %s %s: %w", k.method, path, c.scrub(err)) // transient
	}
	c.metrics.APIRequest(Endpoint(k.method, k.api, k.rel), resp.StatusCode)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, path, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	err = c.classify(k.method, path, resp, b, time.Now())
	if d, ok := retry.Delay(err); ok && resp.StatusCode == http.StatusTooManyRequests {
		c.lim.cool(d)
	}
	return nil, path, err
}

// scrub keeps a transport error's chain (timeouts stay detectable) unless
// its text would show the token, which no known error does.
func (c *Client) scrub(err error) error {
	if strings.Contains(err.Error(), c.token()) {
		return errors.New(c.redact(err.Error()))
	}
	return err
}

// Endpoint is the route template of a request, for metrics: the method and
// the path with every ID replaced, e.g. "GET /api/v2/accounts/{id}/runs/{id}/artifacts/{path}".
// It never holds an ID, so its values are few.
func Endpoint(method, api, rel string) string {
	out := []string{"/api/" + api + "/accounts/{id}"}
	prev := ""
	for _, s := range strings.Split(strings.Trim(rel, "/"), "/") {
		if s == "" {
			continue
		}
		if prev == "artifacts" {
			out = append(out, "{path}") // the artifact's path, which may hold slashes
			break
		}
		if idFollows(prev) || strings.ContainsAny(s, "0123456789") {
			s = "{id}"
		}
		out, prev = append(out, s), s
	}
	return method + " " + strings.Join(out, "/")
}

// idFollows reports whether the Admin API follows path segment s with an ID.
func idFollows(s string) bool {
	switch s {
	case "runs", "jobs", "projects", "environments", "subscription":
		return true
	}
	return false
}
