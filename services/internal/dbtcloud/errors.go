package dbtcloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// ErrNotFound is wrapped by every error for a 404 from dbt Cloud: an unknown
// run or job, or an artifact the run did not produce (or not yet).
var ErrNotFound = errors.New("dbtcloud: not found")

// DefaultCooldown is the delay asked for on a 429 without a Retry-After
// header: dbt documents a five-minute cooldown once the rate limit is hit.
const DefaultCooldown = 5 * time.Minute

// APIError is an HTTP error answer from dbt Cloud. It never holds the token.
type APIError struct {
	Method, Path     string // Path has no query string
	StatusCode       int
	UserMessage      string // dbt's status.user_message, if the body had one
	DeveloperMessage string
	Hint             string // what to fix, for 401 and 403
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dbt Cloud %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.UserMessage != "" {
		fmt.Fprintf(&b, ": %q", e.UserMessage)
	}
	if e.DeveloperMessage != "" && e.DeveloperMessage != e.UserMessage {
		fmt.Fprintf(&b, " (%s)", e.DeveloperMessage)
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap makes a 404 match ErrNotFound and a 429 ErrRateLimited.
func (e *APIError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusTooManyRequests:
		return ErrRateLimited
	}
	return nil
}

// errorBody is dbt's error envelope; data carries the IP-restriction details.
type errorBody struct {
	Status struct {
		UserMessage      string `json:"user_message"`
		DeveloperMessage string `json:"developer_message"`
	} `json:"status"`
	Data json.RawMessage `json:"data"`
}

// classify turns a non-2xx answer into an error of the right retry class.
// body is at most a few KiB of the response; tok is scrubbed from any text.
func (c *Client) classify(method, path string, resp *http.Response, body []byte, now time.Time) error {
	e := &APIError{Method: method, Path: path, StatusCode: resp.StatusCode}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		e.UserMessage = c.redact(truncate(eb.Status.UserMessage, 300))
		e.DeveloperMessage = c.redact(truncate(eb.Status.DeveloperMessage, 300))
	}
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		e.Hint = c.unauthorizedHint()
		return retry.Permanent(e)
	case code == http.StatusForbidden:
		e.Hint = c.forbiddenHint(e.UserMessage, eb.Data)
		return retry.Permanent(e)
	case code == http.StatusNotFound:
		return e
	case code == http.StatusTooManyRequests:
		return retry.After(retryAfter(resp.Header, now, c.cooldown), e)
	case code >= 500:
		return e
	default:
		return retry.Permanent(e)
	}
}

func (c *Client) unauthorizedHint() string {
	if isRetiredHost(c.base.Hostname()) {
		return fmt.Sprintf("%s is a retired shared host: the account now has its own access URL "+
			"(ACCOUNT_PREFIX.<region>.dbt.com, shown in Account settings → Access URLs); set it as the access URL", c.base.Hostname())
	}
	return "the API token is invalid, expired or revoked: create a personal access token or a service token " +
		"(Account Viewer or Job Viewer) in this account and configure it"
}

func (c *Client) forbiddenHint(userMessage string, data json.RawMessage) string {
	var ip struct {
		AccountAccessDenied bool `json:"account_access_denied"`
	}
	_ = json.Unmarshal(data, &ip)
	msg := strings.ToLower(userMessage)
	switch {
	case strings.Contains(msg, "scoped"):
		return fmt.Sprintf("the token is not scoped to account %d: use a token created in that account, or fix the account ID", c.accountID)
	case ip.AccountAccessDenied || strings.Contains(msg, "forbidden"):
		return "the account has IP restrictions: allow-list this harvester's egress IP addresses in dbt Cloud"
	default:
		return fmt.Sprintf("the token cannot read this resource in account %d: it may not be scoped to the account, "+
			"the account may have IP restrictions, or its permission set lacks Runs/Jobs read (use Account Viewer or Job Viewer)", c.accountID)
	}
}

// isRetiredHost reports whether host is a shared region host that account
// access URLs replaced (deprecated on 1 November 2026).
func isRetiredHost(host string) bool {
	switch strings.ToLower(host) {
	case "cloud.getdbt.com", "emea.dbt.com", "au.dbt.com":
		return true
	}
	return false
}

// retryAfter reads Retry-After (seconds or an HTTP date), then dbt's SCIM
// header x-rate-limit-retry-after-seconds, else fallback.
func retryAfter(h http.Header, now time.Time, fallback time.Duration) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return time.Duration(min(n, 86400)) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	if v := strings.TrimSpace(h.Get("X-Rate-Limit-Retry-After-Seconds")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return time.Duration(min(n, 86400)) * time.Second
		}
	}
	return fallback
}

// redact removes the token from text that came from the server.
func (c *Client) redact(s string) string {
	if tok := c.token(); tok != "" {
		return strings.ReplaceAll(s, tok, "[redacted]")
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
