package dbtcloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxPageSize is the Admin API's largest page ("limit can be an integer up to 100").
const MaxPageSize = 100

// maxJSONBody caps a JSON answer (a run with step logs can be large).
const maxJSONBody = 64 << 20

// Options configures a Client.
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
	// PageSize is the limit ListRuns asks for; 0 means MaxPageSize, and larger
	// values are clamped to it. Smaller pages are for tests.
	PageSize int
}

// Client calls one dbt Cloud account's Admin API v2. It is safe for
// concurrent use.
type Client struct {
	base      *url.URL
	accountID int64
	token     func() string // a closure, so that fmt never prints the token
	http      *http.Client
	userAgent string
	pageSize  int
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
		base:      u,
		accountID: opts.AccountID,
		token:     func() string { return tok },
		http:      opts.HTTP,
		userAgent: opts.UserAgent,
		pageSize:  opts.PageSize,
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	if c.userAgent == "" {
		c.userAgent = "dbt-harvester"
	}
	if c.pageSize <= 0 || c.pageSize > MaxPageSize {
		c.pageSize = MaxPageSize
	}
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

// RunFilter selects runs for ListRuns. Zero fields do not filter.
type RunFilter struct {
	JobID         int64  // job_definition_id
	EnvironmentID int64  // environment_id
	Status        int    // status, e.g. StatusSuccess
	IDGreaterThan int64  // id__gt, for reconciliation
	OrderBy       string // id (default), created_at, finished_at; "-" prefix for descending
	Limit         int    // at most this many runs; 0 means all
}

// GetRun returns a run with its steps, job and trigger, asked for as
// include_related=["trigger","run_steps","job"] (the JSON-list form dbt
// Labs' own guides and MCP server send).
func (c *Client) GetRun(ctx context.Context, runID int64) (Run, error) {
	q := url.Values{"include_related": {`["trigger","run_steps","job"]`}}
	var r Run
	if _, err := c.getJSON(ctx, fmt.Sprintf("runs/%d/", runID), q, &r); err != nil {
		return Run{}, fmt.Errorf("get run %d: %w", runID, err)
	}
	return r, nil
}

// ListRuns pages through the account's runs matching f (MaxPageSize per
// page) until f.Limit runs or the last page. Runs carry their trigger.
func (c *Client) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	q := url.Values{"include_related": {`["trigger"]`}}
	setID := func(k string, v int64) {
		if v != 0 {
			q.Set(k, strconv.FormatInt(v, 10))
		}
	}
	setID("job_definition_id", f.JobID)
	setID("environment_id", f.EnvironmentID)
	setID("status", int64(f.Status))
	setID("id__gt", f.IDGreaterThan)
	if f.OrderBy != "" {
		q.Set("order_by", f.OrderBy)
	}
	var runs []Run
	for offset := 0; ; {
		limit := c.pageSize
		if f.Limit > 0 {
			limit = min(limit, f.Limit-len(runs))
		}
		q.Set("limit", strconv.Itoa(limit))
		q.Set("offset", strconv.Itoa(offset))
		var page []Run
		extra, err := c.getJSON(ctx, "runs/", q, &page)
		if err != nil {
			return nil, fmt.Errorf("list runs at offset %d: %w", offset, err)
		}
		runs = append(runs, page...)
		offset += len(page)
		total := extra.Pagination.TotalCount
		if len(page) == 0 || (f.Limit > 0 && len(runs) >= f.Limit) || (total > 0 && offset >= total) || (total == 0 && len(page) < limit) {
			break
		}
	}
	if f.Limit > 0 && len(runs) > f.Limit {
		runs = runs[:f.Limit]
	}
	return runs, nil
}

// GetJob returns a job definition.
func (c *Client) GetJob(ctx context.Context, jobID int64) (Job, error) {
	var j Job
	if _, err := c.getJSON(ctx, fmt.Sprintf("jobs/%d/", jobID), nil, &j); err != nil {
		return Job{}, fmt.Errorf("get job %d: %w", jobID, err)
	}
	return j, nil
}

// extra is the envelope's pagination state.
type extra struct {
	Pagination struct {
		Count      int `json:"count"`
		TotalCount int `json:"total_count"`
	} `json:"pagination"`
}

// getJSON GETs an account-relative path, checks the status and decodes the
// envelope's data into out. It reads and closes the body.
func (c *Client) getJSON(ctx context.Context, rel string, q url.Values, out any) (extra, error) {
	resp, path, err := c.get(ctx, rel, q, "application/json")
	if err != nil {
		return extra{}, err
	}
	defer resp.Body.Close()
	var env struct {
		Data  json.RawMessage `json:"data"`
		Extra extra           `json:"extra"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONBody)).Decode(&env); err != nil {
		return extra{}, fmt.Errorf("decode %s: %w", path, err) // usually a cut connection: transient
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return extra{}, fmt.Errorf("decode %s data: %w", path, err)
	}
	return env.Extra, nil
}

// get sends one GET and returns a 2xx response, whose body the caller
// closes; any other answer is read (a little), closed and classified.
func (c *Client) get(ctx context.Context, rel string, q url.Values, accept string) (*http.Response, string, error) {
	u := *c.base
	u.Path = fmt.Sprintf("%s/api/v2/accounts/%d/%s", c.base.Path, c.accountID, rel)
	u.RawQuery = q.Encode()
	path := u.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, path, fmt.Errorf("build request for %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token())
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, path, fmt.Errorf("dbt Cloud GET %s: %w", path, c.scrub(err)) // transient
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, path, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	return nil, path, c.classify(http.MethodGet, path, resp, body, time.Now())
}

// scrub keeps a transport error's chain (timeouts stay detectable) unless
// its text would show the token, which no known error does.
func (c *Client) scrub(err error) error {
	if strings.Contains(err.Error(), c.token()) {
		return errors.New(c.redact(err.Error()))
	}
	return err
}
