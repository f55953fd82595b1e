// Package doctor checks every step of setting the harvester up, the way an
// operator would by hand, and says for each what to fix: per configured dbt
// Cloud account, the access URL, the token and what it may read, the
// configured projects, environments and jobs, the job settings that decide
// what metadata a harvest carries, a recent run to harvest, and the webhook
// subscription; then NATS and the topology the services create.
//
// [Run] never stops at the first failure: checks that depend on a failed
// one are left out, every other one runs, and each yields one [Check].
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// Status is a check's verdict.
type Status string

// Verdicts: Fail makes `harvester doctor` exit non-zero.
const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Check is one line of the report. Account is the dbt Cloud account's ID,
// or "" for checks of NATS.
type Check struct {
	Account string `json:"account"`
	Check   string `json:"check"`
	Status  Status `json:"status"`
	Detail  string `json:"detail"`
	Fix     string `json:"fix,omitempty"`
}

// Options say what to check.
type Options struct {
	Accounts []config.Account
	// WebhookURL is the receiver's public URL the subscription must
	// deliver to; empty accepts any URL with the receiver's path.
	WebhookURL string
	// NATS is where the pipeline runs (URL required) and Topology the
	// settings it should have.
	NATS     natsconn.Options
	Topology topology.Config
	// NATSTimeout bounds connecting to NATS (default 3s).
	NATSTimeout time.Duration
	// RecentRun is how old the latest successful run may be before it is a
	// warning (default 7 days).
	RecentRun time.Duration
	// Client makes an account's API client; nil uses dbtcloud.New.
	Client func(config.Account) (*dbtcloud.Client, error)
	Now    func() time.Time
}

func (o *Options) setDefaults() {
	if o.NATSTimeout <= 0 {
		o.NATSTimeout = 3 * time.Second
	}
	if o.RecentRun <= 0 {
		o.RecentRun = 7 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = func(a config.Account) (*dbtcloud.Client, error) {
			return dbtcloud.New(dbtcloud.Options{AccessURL: a.AccessURL, AccountID: a.ID, Token: a.Token.Reveal(), MaxAttempts: 2})
		}
	}
}

// Run checks every account, then NATS, and returns one Check per line.
func Run(ctx context.Context, opts Options) []Check {
	opts.setDefaults()
	var out []Check
	if len(opts.Accounts) == 0 {
		out = append(out, Check{Check: "accounts", Status: Fail, Detail: "no dbt Cloud account is configured",
			Fix: "set DBT_CLOUD_ACCOUNT_ID, DBT_CLOUD_ACCESS_URL and DBT_CLOUD_API_TOKEN, or list accounts in the HARVESTER_CONFIG file"})
	}
	for _, a := range opts.Accounts {
		out = append(out, checkAccount(ctx, opts, a)...)
	}
	return append(out, checkNATS(ctx, opts)...)
}

// Failed counts the failed checks.
func Failed(checks []Check) int {
	n := 0
	for _, c := range checks {
		if c.Status == Fail {
			n++
		}
	}
	return n
}

// report collects the checks of one account.
type report struct {
	account string
	checks  []Check
}

func (r *report) add(check string, s Status, detail, fix string) {
	r.checks = append(r.checks, Check{Account: r.account, Check: check, Status: s, Detail: detail, Fix: fix})
}

func (r *report) pass(check, detail string)      { r.add(check, Pass, detail, "") }
func (r *report) warn(check, detail, fix string) { r.add(check, Warn, detail, fix) }
func (r *report) fail(check, detail, fix string) { r.add(check, Fail, detail, fix) }

// checkAccount runs the checks of one account, leaving out those that
// cannot run after a failure (no token, no API).
func checkAccount(ctx context.Context, opts Options, a config.Account) []Check {
	r := &report{account: strconv.FormatInt(a.ID, 10)}
	if config.IsRetiredHost(hostOf(a.AccessURL)) {
		r.fail("access_url", a.AccessURL+" is a retired shared host (deprecated on 1 November 2026)",
			"set the account's own access URL, ACCOUNT_PREFIX.<region>.dbt.com, shown in dbt Cloud under Account settings → Access URLs")
		return r.checks
	}
	c, err := opts.Client(a)
	if err != nil {
		r.fail("access_url", err.Error(), "set the account's access URL, e.g. https://ab123.us1.dbt.com (Account settings → Access URLs)")
		return r.checks
	}
	if !checkToken(ctx, r, c, a) {
		return r.checks
	}
	runID := checkRuns(ctx, r, c)
	if runID != 0 {
		checkArtifacts(ctx, r, c, runID)
	}
	jobs := checkScope(ctx, r, c, a)
	checkJobSettings(r, jobs)
	checkRecentRun(ctx, r, c, a, jobs, opts)
	checkSubscription(ctx, r, c, opts.WebhookURL, jobs)
	return r.checks
}

// checkToken reads the account: it proves the host answers, the token is
// valid and it is scoped to the account. It reports whether to go on.
func checkToken(ctx context.Context, r *report, c *dbtcloud.Client, a config.Account) bool {
	acct, err := c.GetAccount(ctx)
	var api *dbtcloud.APIError
	switch {
	case err == nil:
		r.pass("access_url", a.AccessURL+" answers")
	case errors.As(err, &api):
		r.pass("access_url", fmt.Sprintf("%s answers (HTTP %d)", a.AccessURL, api.StatusCode))
	default:
		r.fail("access_url", fmt.Sprintf("cannot reach %s: %v", a.AccessURL, err),
			"check the access URL (Account settings → Access URLs), DNS, proxies and the egress firewall")
		return false
	}
	switch {
	case err != nil:
		r.fail("token", detail(err), tokenFix(api, a))
		return false
	case acct.ID != 0 && acct.ID != a.ID:
		r.fail("token", fmt.Sprintf("the token reads account %d, not %d", acct.ID, a.ID),
			"fix the account ID (the number after /accounts/ in dbt Cloud URLs) or use a token of this account")
		return false
	}
	r.pass("token", fmt.Sprintf("valid and scoped to account %d %q (plan %s)", a.ID, acct.Name, orDash(acct.Plan)))
	return true
}

func tokenFix(api *dbtcloud.APIError, a config.Account) string {
	if api != nil && api.Hint != "" {
		return api.Hint
	}
	return fmt.Sprintf("check that %s is account %d's access URL and that the token belongs to that account", a.AccessURL, a.ID)
}

// checkRuns lists one run; it returns its ID (0 when there is none or on failure).
func checkRuns(ctx context.Context, r *report, c *dbtcloud.Client) int64 {
	runs, err := c.ListRuns(ctx, dbtcloud.RunFilter{OrderBy: "-id", Limit: 1})
	switch {
	case err != nil:
		r.fail("read_runs", detail(err), readFix(err, "Job Viewer (or Account Viewer)"))
		return 0
	case len(runs) == 0:
		r.warn("read_runs", "the token can list runs, but the account has none yet", "run a job once (Deploy → Jobs → Run now)")
		return 0
	}
	r.pass("read_runs", fmt.Sprintf("can list runs (latest: run %d)", runs[0].ID))
	return runs[0].ID
}

// checkArtifacts lists the artifacts of run.
func checkArtifacts(ctx context.Context, r *report, c *dbtcloud.Client, run int64) {
	paths, err := c.ListArtifacts(ctx, run, 0)
	switch {
	case errors.Is(err, dbtcloud.ErrNotFound):
		r.warn("read_artifacts", fmt.Sprintf("run %d has no artifacts (it may have failed before dbt ran)", run), "")
	case err != nil:
		r.fail("read_artifacts", detail(err), readFix(err, "Job Viewer (or Account Viewer)"))
	default:
		r.pass("read_artifacts", fmt.Sprintf("can list artifacts (%d for run %d)", len(paths), run))
	}
}

func readFix(err error, role string) string {
	var api *dbtcloud.APIError
	if errors.As(err, &api) && api.Hint != "" {
		return api.Hint
	}
	return fmt.Sprintf("give the token the %s permission set on the account's projects", role)
}

// detail is what dbt Cloud answered, without the hint the fix repeats.
func detail(err error) string {
	var api *dbtcloud.APIError
	if !errors.As(err, &api) {
		return err.Error()
	}
	s := fmt.Sprintf("dbt Cloud answered %d to %s %s", api.StatusCode, api.Method, api.Path)
	if api.UserMessage != "" {
		s += fmt.Sprintf(": %q", api.UserMessage)
	}
	return s
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
