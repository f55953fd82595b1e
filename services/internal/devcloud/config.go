package devcloud

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Config describes the simulated world and its faults. Without Accounts it
// is one account with one project, environment, job and run (plus
// ExtraRuns older ones) served from ArtifactsDir; the zero value plus Token
// and ArtifactsDir is usable. With Accounts, those single-run fields (IDs,
// names, ArtifactsDir, RunStatus, ExtraRuns) are not used.
type Config struct {
	// Token is the API token accepted (as "Token <t>" or "Bearer <t>") for
	// every account that has no token of its own.
	Token string
	// IDs of the account and the job's project, environment, job and run;
	// defaults 1, 100, 200, 300, 400.
	AccountID, ProjectID, EnvironmentID, JobID, RunID int64
	// ExtraRuns adds that many older successful runs of the job, with IDs
	// RunID-ExtraRuns … RunID-1, serving the same artifacts (for paging).
	ExtraRuns int
	// ArtifactsDir holds manifest.json, run_results.json, catalog.json and
	// sources.json (any may be absent), and optionally compiled/ and run/;
	// or one step-N/ folder per step (see the package doc).
	ArtifactsDir string
	// Names and version; defaults "Nightly production build", "analytics",
	// "Production", "1.10.6".
	JobName, ProjectName, EnvironmentName, DBTVersion string
	// RunStatus is 10 success (default), 20 error or 30 cancelled.
	RunStatus int
	// Accounts, when set, is the whole world (see AccountSpec).
	Accounts []AccountSpec
	// WebhookURL, if set, is subscribed (all events, all jobs) and receives
	// webhooks signed with WebhookSecret (which must then be set).
	WebhookURL, WebhookSecret string
	// WebhookTimeout bounds one delivery attempt (default 10 s, as dbt);
	// WebhookBackoff is the pause before the first retry, doubling after
	// (default 1 s; dbt's schedule is not documented).
	WebhookTimeout, WebhookBackoff time.Duration
	// DeactivateAfter is how many consecutive failed deliveries (each of
	// up to 1+5 attempts) deactivate a subscription; default 5.
	DeactivateAfter int
	// Logger defaults to discarding.
	Logger *slog.Logger

	// Faults for every request; RunSpec.Faults adds faults for one run.
	// Latency delays every answer.
	Latency time.Duration
	// Fail5xx: the first N artifact downloads answer 503.
	Fail5xx int
	// Fail5xxRate: this fraction (0..1) of API requests answer 503.
	Fail5xxRate float64
	// RateLimit: the first N API requests answer 429; RetryAfter > 0 adds a
	// Retry-After header of that many seconds.
	RateLimit, RetryAfter int
	// TruncateArtifacts: the first N artifact downloads send half the file
	// under the full Content-Length, then cut the connection.
	TruncateArtifacts int
	// SlowBodyBPS throttles artifact bodies to that many bytes a second.
	SlowBodyBPS int
	// ArtifactDelay: a run's artifacts answer 404 until this long after the
	// run completed (or after the server started, for runs complete then).
	ArtifactDelay time.Duration
	// IgnoreStep: the artifact endpoints ignore ?step= and serve the last
	// step's files, as dbt Cloud was reported to do.
	IgnoreStep bool
	// RetiredHost: requests whose Host is a retired shared host
	// (cloud.getdbt.com, emea.dbt.com, au.dbt.com) answer 401, whatever the
	// token, as those hosts do since the account URL migration.
	RetiredHost bool
}

// Faults are the failures injected into one run's requests (RunSpec), in
// addition to the Config's. Counts (Fail5xx, RateLimit, TruncateArtifacts)
// are counted per run.
type Faults struct {
	Latency           time.Duration `yaml:"latency"`
	Fail5xx           int           `yaml:"fail_5xx"`
	Fail5xxRate       float64       `yaml:"fail_5xx_rate"`
	RateLimit         int           `yaml:"rate_limit"`
	RetryAfter        int           `yaml:"retry_after"`
	TruncateArtifacts int           `yaml:"truncate_artifacts"`
	SlowBodyBPS       int           `yaml:"slow_body_bps"`
	ArtifactDelay     time.Duration `yaml:"artifact_delay"`
	IgnoreStep        bool          `yaml:"ignore_step"`
}

// AccountSpec is one simulated account: projects with environments with
// jobs with runs, and webhook subscriptions that exist from the start.
type AccountSpec struct {
	ID       int64         `yaml:"id"`
	Name     string        `yaml:"name"`  // default "Account <id>"
	Plan     string        `yaml:"plan"`  // default "enterprise"
	Token    string        `yaml:"token"` // default Config.Token
	Projects []ProjectSpec `yaml:"projects"`
	Webhooks []WebhookSpec `yaml:"webhooks"`
}

// ProjectSpec is one project of an account.
type ProjectSpec struct {
	ID           int64             `yaml:"id"`
	Name         string            `yaml:"name"`
	Environments []EnvironmentSpec `yaml:"environments"`
}

// EnvironmentSpec is one environment of a project.
type EnvironmentSpec struct {
	ID   int64  `yaml:"id"`
	Name string `yaml:"name"`
	// Type is "deployment" (default) or "development".
	Type string `yaml:"type"`
	// DeploymentType is "production", "staging" or "" (a general
	// deployment environment; null in the API).
	DeploymentType string    `yaml:"deployment_type"`
	DBTVersion     string    `yaml:"dbt_version"` // default "1.10.6"
	Jobs           []JobSpec `yaml:"jobs"`
}

// JobSpec is one job of an environment and its runs.
type JobSpec struct {
	ID   int64  `yaml:"id"`
	Name string `yaml:"name"`
	// JobType is "scheduled" (default), "ci", "merge" or "other".
	JobType string `yaml:"job_type"`
	// ExecuteSteps are the job's commands; default ["dbt build"].
	ExecuteSteps       []string `yaml:"execute_steps"`
	GenerateDocs       bool     `yaml:"generate_docs"`
	RunGenerateSources bool     `yaml:"run_generate_sources"`
	// ArtifactsDir is the default folder of the job's runs.
	ArtifactsDir string    `yaml:"artifacts"`
	Runs         []RunSpec `yaml:"runs"`
}

// RunSpec is one run of a job: in a JobSpec, a run that is complete when
// the server starts; given to Server.AddRun, a run that starts then.
type RunSpec struct {
	ID    int64 `yaml:"id"`     // 0 = the next free ID
	JobID int64 `yaml:"job_id"` // for AddRun; 0 = the first job
	// Status is 10 success (default), 20 error or 30 cancelled; AddRun's
	// runs are running until CompleteRun.
	Status int `yaml:"status"`
	// FinishedAt places a complete run; zero places a job's last run five
	// minutes before the server starts and each earlier one a day before.
	FinishedAt   time.Time `yaml:"finished_at"`
	ArtifactsDir string    `yaml:"artifacts"` // default the job's, then Config.ArtifactsDir
	Faults       Faults    `yaml:"faults"`
}

// WebhookSpec is a webhook subscription that exists when the server starts.
type WebhookSpec struct {
	Name       string   `yaml:"name"`
	URL        string   `yaml:"url"`
	Secret     string   `yaml:"secret"`      // default: a random one, logged nowhere
	EventTypes []string `yaml:"event_types"` // default: all three
	JobIDs     []int64  `yaml:"job_ids"`     // empty = every job
	Inactive   bool     `yaml:"inactive"`
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
	c.DeactivateAfter = cmp.Or(c.DeactivateAfter, 5)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	if c.Token == "" && len(c.Accounts) == 0 {
		return errors.New("devcloud: a token is required")
	}
	if c.WebhookURL != "" && c.WebhookSecret == "" {
		return errors.New("devcloud: a webhook URL needs a webhook secret")
	}
	if c.Fail5xxRate < 0 || c.Fail5xxRate > 1 {
		return fmt.Errorf("devcloud: 5xx rate %v is not between 0 and 1", c.Fail5xxRate)
	}
	if len(c.Accounts) > 0 {
		return nil // checked while building the world
	}
	if c.ArtifactsDir == "" {
		return errors.New("devcloud: an artifacts folder is required")
	}
	if err := checkDir(c.ArtifactsDir); err != nil {
		return err
	}
	if err := checkStatus(c.RunStatus); err != nil {
		return err
	}
	for _, id := range []int64{c.AccountID, c.ProjectID, c.EnvironmentID, c.JobID, c.RunID} {
		if id < 0 {
			return errors.New("devcloud: IDs must be positive")
		}
	}
	if c.ExtraRuns < 0 || int64(c.ExtraRuns) >= c.RunID {
		return fmt.Errorf("devcloud: %d extra runs do not fit below run ID %d", c.ExtraRuns, c.RunID)
	}
	return nil
}

func checkDir(dir string) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("devcloud: artifacts folder %q is not a readable folder", dir)
	}
	return nil
}

func checkStatus(code int) error {
	switch code {
	case statusSuccess, statusError, statusCancelled:
		return nil
	}
	return fmt.Errorf("devcloud: run status %d is not 10 (success), 20 (error) or 30 (cancelled)", code)
}

// globalFaults are the Config's faults as a Faults value.
func (c *Config) globalFaults() Faults {
	return Faults{
		Latency: c.Latency, Fail5xx: c.Fail5xx, Fail5xxRate: c.Fail5xxRate, RateLimit: c.RateLimit,
		RetryAfter: c.RetryAfter, TruncateArtifacts: c.TruncateArtifacts, SlowBodyBPS: c.SlowBodyBPS,
		ArtifactDelay: c.ArtifactDelay, IgnoreStep: c.IgnoreStep,
	}
}

// legacyWorld is the single-run Config as an account.
func (c *Config) legacyWorld(hasDocs, hasSources bool) []AccountSpec {
	runs := make([]RunSpec, 0, c.ExtraRuns+1)
	for i := c.ExtraRuns; i >= 1; i-- {
		runs = append(runs, RunSpec{ID: c.RunID - int64(i), Status: statusSuccess})
	}
	runs = append(runs, RunSpec{ID: c.RunID, Status: c.RunStatus})
	return []AccountSpec{{
		ID: c.AccountID, Name: "devcloud", Token: c.Token,
		Projects: []ProjectSpec{{ID: c.ProjectID, Name: c.ProjectName, Environments: []EnvironmentSpec{{
			ID: c.EnvironmentID, Name: c.EnvironmentName, Type: "deployment", DeploymentType: "production", DBTVersion: c.DBTVersion,
			Jobs: []JobSpec{{
				ID: c.JobID, Name: c.JobName, JobType: "scheduled", ExecuteSteps: []string{"dbt build"},
				GenerateDocs: hasDocs, RunGenerateSources: hasSources, ArtifactsDir: c.ArtifactsDir, Runs: runs,
			}},
		}}}},
	}}
}
