package devcloud

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Config describes the simulated account, its one job and run, and faults.
// The zero value plus Token and ArtifactsDir is usable.
type Config struct {
	// Token is the only API token accepted (as "Token <t>" or "Bearer <t>").
	Token string
	// IDs of the account and the job's project, environment, job and run;
	// defaults 1, 100, 200, 300, 400.
	AccountID, ProjectID, EnvironmentID, JobID, RunID int64
	// ExtraRuns adds that many older successful runs of the job, with IDs
	// RunID-ExtraRuns … RunID-1, serving the same artifacts (for paging).
	ExtraRuns int
	// ArtifactsDir holds manifest.json, run_results.json, catalog.json and
	// sources.json (any may be absent), and optionally compiled/ and run/.
	ArtifactsDir string
	// Names and version; defaults "Nightly production build", "analytics",
	// "Production", "1.10.6".
	JobName, ProjectName, EnvironmentName, DBTVersion string
	// RunStatus is 10 success (default), 20 error or 30 cancelled.
	RunStatus int
	// WebhookURL, if set, receives webhooks for the run signed with
	// WebhookSecret (which must then be set).
	WebhookURL, WebhookSecret string
	// WebhookTimeout bounds one delivery attempt (default 10 s, as dbt);
	// WebhookBackoff is the pause before the first retry, doubling after
	// (default 1 s; dbt's schedule is not documented).
	WebhookTimeout, WebhookBackoff time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger

	// Latency delays every answer.
	Latency time.Duration
	// Fail5xx: the first N artifact downloads answer 503.
	Fail5xx int
	// RateLimit: the first N API requests answer 429; RetryAfter > 0 adds a
	// Retry-After header of that many seconds.
	RateLimit, RetryAfter int
	// TruncateArtifacts: the first N artifact downloads send half the file
	// under the full Content-Length, then cut the connection.
	TruncateArtifacts int
}

func (c *Config) setDefaults() {
	c.AccountID = cmp.Or(c.AccountID, 1)
	c.ProjectID = cmp.Or(c.ProjectID, 100)
	c.EnvironmentID = cmp.Or(c.EnvironmentID, 200)
	c.JobID = cmp.Or(c.JobID, 300)
	c.RunID = cmp.Or(c.RunID, 400)
	c.JobName = cmp.Or(c.JobName, "Nightly production build")
	c.ProjectName = cmp.Or(c.ProjectName, "analytics")
	c.EnvironmentName = cmp.Or(c.EnvironmentName, "Production")
	c.DBTVersion = cmp.Or(c.DBTVersion, "1.10.6")
	c.RunStatus = cmp.Or(c.RunStatus, statusSuccess)
	c.WebhookTimeout = cmp.Or(c.WebhookTimeout, 10*time.Second)
	c.WebhookBackoff = cmp.Or(c.WebhookBackoff, time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	if c.Token == "" {
		return errors.New("devcloud: a token is required")
	}
	if c.ArtifactsDir == "" {
		return errors.New("devcloud: an artifacts folder is required")
	}
	if fi, err := os.Stat(c.ArtifactsDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("devcloud: artifacts folder %q is not a readable folder", c.ArtifactsDir)
	}
	switch c.RunStatus {
	case statusSuccess, statusError, statusCancelled:
	default:
		return fmt.Errorf("devcloud: run status %d is not 10 (success), 20 (error) or 30 (cancelled)", c.RunStatus)
	}
	for _, id := range []int64{c.AccountID, c.ProjectID, c.EnvironmentID, c.JobID, c.RunID} {
		if id < 0 {
			return errors.New("devcloud: IDs must be positive")
		}
	}
	if c.ExtraRuns < 0 || int64(c.ExtraRuns) >= c.RunID {
		return fmt.Errorf("devcloud: %d extra runs do not fit below run ID %d", c.ExtraRuns, c.RunID)
	}
	if c.WebhookURL != "" && c.WebhookSecret == "" {
		return errors.New("devcloud: a webhook URL needs a webhook secret")
	}
	return nil
}
