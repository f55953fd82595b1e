package dbtcloud

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/metrics"
)

// MaxPageSize is the Admin API's largest page ("limit can be an integer up to 100").
const MaxPageSize = 100

// maxJSONBody caps a JSON answer (a run with step logs can be large).
const maxJSONBody = 64 << 20

// Options configures a Client. The zero value of every field but
// AccessURL, AccountID and Token is a usable default.
type Options struct {
	// AccessURL is the account's access URL, e.g. https://ab123.us1.dbt.com
	// (Account settings → Access URLs). A path, if any, is kept as a prefix.
	AccessURL string
	AccountID int64
	// Token is a personal access token or a service token; it is sent as
	// "Authorization: Bearer <token>", which dbt accepts for both.
	Token string
	// HTTP is the client used for every call. nil means one with dial, TLS
	// and response-header timeouts but no overall timeout, so that large
	// artifact downloads are bounded by the caller's ctx only.
	HTTP *http.Client
	// UserAgent defaults to "dbt-harvester".
	UserAgent string
	// PageSize is the limit list calls ask for; 0 means MaxPageSize, and
	// larger values are clamped to it. Smaller pages are for tests.
	PageSize int
	// MaxAttempts bounds the tries of one GET that fails with a 5xx, a
	// timeout, a reset connection or a body cut short (before any body was
	// handed to the caller); 0 means 3, 1 turns in-client retries off.
	MaxAttempts int
	// RetryBackoff is the pause before the second try, doubling for each
	// further one up to 16 times it, with jitter; 0 means 500 ms.
	RetryBackoff time.Duration
	// RequestsPerSecond is the steady rate of this Client's requests; 0
	// means DefaultRequestsPerSecond, a negative value no limit.
	RequestsPerSecond float64
	// Cooldown is how long every request waits after a 429 without a
	// Retry-After header; 0 means DefaultCooldown (dbt's five minutes).
	Cooldown time.Duration
	// Metrics, if set, counts every answer by endpoint and status code and
	// the time spent waiting for a 429 cooldown.
	Metrics *metrics.Metrics
}

// Client calls one dbt Cloud account's Admin API (v2, and v3 for projects,
// environments and webhook subscriptions). It is safe for concurrent use,
// and all its requests share one limiter: after a 429 every request waits
// for the cooldown, so use one Client per account.
type Client struct {
	base         *url.URL
	accountID    int64
	token        func() string // a closure, so that fmt never prints the token
	http         *http.Client
	userAgent    string
	pageSize     int
	maxAttempts  int
	retryBackoff time.Duration
	cooldown     time.Duration
	lim          *limiter
	metrics      *metrics.Metrics
}

// New checks opts and returns a Client. It makes no request.
func New(opts Options) (*Client, error) {
	if opts.AccessURL == "" {
		return nil, errors.New("dbtcloud: access URL is required")
	}
	u, err := url.Parse(opts.AccessURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("dbtcloud: access URL %q is not an http(s) URL such as https://ab123.us1.dbt.com", opts.AccessURL)
	}
	if u.User != nil || u.RawQuery != "" {
		return nil, errors.New("dbtcloud: access URL must not hold credentials or a query")
	}
	if opts.AccountID <= 0 {
		return nil, errors.New("dbtcloud: account ID is required")
	}
	if strings.TrimSpace(opts.Token) == "" {
		return nil, errors.New("dbtcloud: API token is required")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	tok := strings.TrimSpace(opts.Token)
	c := &Client{
		base:         u,
		accountID:    opts.AccountID,
		token:        func() string { return tok },
		http:         opts.HTTP,
		userAgent:    cmp.Or(opts.UserAgent, "dbt-harvester"),
		pageSize:     opts.PageSize,
		maxAttempts:  cmp.Or(max(opts.MaxAttempts, 0), 3),
		retryBackoff: cmp.Or(max(opts.RetryBackoff, 0), 500*time.Millisecond),
		cooldown:     cmp.Or(max(opts.Cooldown, 0), DefaultCooldown),
		metrics:      opts.Metrics,
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	if c.pageSize <= 0 || c.pageSize > MaxPageSize {
		c.pageSize = MaxPageSize
	}
	rps := opts.RequestsPerSecond
	if rps == 0 {
		rps = DefaultRequestsPerSecond
	}
	c.lim = newLimiter(rps)
	c.lim.cooled = c.metrics.APIWait
	return c, nil
}

func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   8,
		ForceAttemptHTTP2:     true,
	}}
}

// AccountID is the account this client reads.
func (c *Client) AccountID() int64 { return c.accountID }
