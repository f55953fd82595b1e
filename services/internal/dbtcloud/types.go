package dbtcloud

import (
	"encoding/json"
	"time"
)

// Run status codes (Admin API v2 RunResponse.status).
const (
	StatusQueued    = 1
	StatusStarting  = 2
	StatusRunning   = 3
	StatusSuccess   = 10
	StatusError     = 20
	StatusCancelled = 30
)

// Run is the part of a v2 run object the harvester reads. Times are UTC; a
// null timestamp is the zero time. Steps and Job are filled only when the
// request asked for them with include_related (GetRun does).
type Run struct {
	ID                  int64     `json:"id"`
	AccountID           int64     `json:"account_id"`
	ProjectID           int64     `json:"project_id"`
	EnvironmentID       int64     `json:"environment_id"`
	JobDefinitionID     int64     `json:"job_definition_id"`
	Status              int       `json:"status"`
	StatusHumanized     string    `json:"status_humanized"`
	StatusMessage       string    `json:"status_message"` // "" when null
	DBTVersion          string    `json:"dbt_version"`
	GitBranch           string    `json:"git_branch"`
	GitSHA              string    `json:"git_sha"`
	Trigger             *Trigger  `json:"trigger"`
	CreatedAt           time.Time `json:"created_at"`
	StartedAt           time.Time `json:"started_at"`
	FinishedAt          time.Time `json:"finished_at"`
	Href                string    `json:"href"`
	InProgress          bool      `json:"in_progress"`
	IsComplete          bool      `json:"is_complete"`
	IsSuccess           bool      `json:"is_success"`
	IsError             bool      `json:"is_error"`
	IsCancelled         bool      `json:"is_cancelled"`
	HasDocsGenerated    bool      `json:"has_docs_generated"`
	HasSourcesGenerated bool      `json:"has_sources_generated"`
	ArtifactsSaved      bool      `json:"artifacts_saved"`
	Steps               []Step    `json:"run_steps"`
	Job                 *Job      `json:"job"`
}

// Trigger is why a run started; Cause is the webhook's runReason.
type Trigger struct {
	Cause         string `json:"cause"`
	CauseCategory string `json:"cause_category"`
}

// Step is one run step. Index is 1-based and is the artifact endpoint's step.
type Step struct {
	ID              int64     `json:"id"`
	Index           int       `json:"index"`
	Name            string    `json:"name"` // e.g. "Invoke dbt with `dbt build`"
	Status          int       `json:"status"`
	StatusHumanized string    `json:"status_humanized"`
	StartedAt       time.Time `json:"started_at"`
	FinishedAt      time.Time `json:"finished_at"`
}

// Job types (v2 JobDefinition.job_type). Older API versions and older jobs
// may leave job_type out; see [Job.IsCI].
const (
	JobTypeScheduled = "scheduled"
	JobTypeCI        = "ci"
	JobTypeMerge     = "merge"
	JobTypeOther     = "other"
)

// Job is the part of a job definition the harvester reads.
type Job struct {
	ID                 int64       `json:"id"`
	AccountID          int64       `json:"account_id"`
	Name               string      `json:"name"`
	Description        string      `json:"description"`
	ProjectID          int64       `json:"project_id"`
	EnvironmentID      int64       `json:"environment_id"`
	GenerateDocs       bool        `json:"generate_docs"`        // "Generate docs on run": catalog.json from the last step
	RunGenerateSources bool        `json:"run_generate_sources"` // "Run source freshness": sources.json from the first dbt step
	ExecuteSteps       []string    `json:"execute_steps"`
	JobType            string      `json:"job_type"` // scheduled, ci, merge, other, …; "" when the API omits it
	Triggers           JobTriggers `json:"triggers"`
	State              int         `json:"state"` // 1 active, 2 deleted
	DBTVersion         string      `json:"dbt_version"`
}

// JobTriggers is what starts a job's runs. A git-provider webhook trigger
// is how CI jobs run on pull requests.
type JobTriggers struct {
	Schedule           bool `json:"schedule"`
	GithubWebhook      bool `json:"github_webhook"`
	GitProviderWebhook bool `json:"git_provider_webhook"` // null in older jobs
	OnMerge            bool `json:"on_merge"`
	CustomBranchOnly   bool `json:"custom_branch_only"`
}

// IsCI reports whether j is a CI job (runs on pull requests, against a
// temporary schema): job_type "ci", or, when the API gives no job_type, a
// pull-request webhook trigger. Every other job is a deploy job.
func (j Job) IsCI() bool {
	if j.JobType != "" {
		return j.JobType == JobTypeCI
	}
	return j.Triggers.GithubWebhook || j.Triggers.GitProviderWebhook
}

// Account is the part of a v2 account the harvester reads.
type Account struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Plan       string `json:"plan"`       // e.g. "enterprise", "team", "starter_2025"
	Identifier string `json:"identifier"` // dbt's "act_…" identifier, when present
	State      int    `json:"state"`
	Locked     bool   `json:"locked"`
}

// Project is a dbt Cloud project (v3 API).
type Project struct {
	ID        int64  `json:"id"`
	AccountID int64  `json:"account_id"`
	Name      string `json:"name"`
	State     int    `json:"state"`
}

// Environment types and deployment types (v3 API).
const (
	EnvironmentDeployment  = "deployment"
	EnvironmentDevelopment = "development"
	DeploymentProduction   = "production"
	DeploymentStaging      = "staging"
)

// Environment is a dbt Cloud environment (v3 API).
type Environment struct {
	ID             int64  `json:"id"`
	AccountID      int64  `json:"account_id"`
	ProjectID      int64  `json:"project_id"`
	Name           string `json:"name"`
	Type           string `json:"type"`            // "deployment" or "development"
	DeploymentType string `json:"deployment_type"` // "production", "staging" or "" (null: a general deployment environment)
	DBTVersion     string `json:"dbt_version"`
	State          int    `json:"state"`
}

// UnmarshalJSON decodes a v2 run, reading its timestamps with ParseTime.
func (r *Run) UnmarshalJSON(b []byte) error {
	type plain Run
	w := struct {
		*plain
		CreatedAt  timestamp `json:"created_at"`
		StartedAt  timestamp `json:"started_at"`
		FinishedAt timestamp `json:"finished_at"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	r.CreatedAt, r.StartedAt, r.FinishedAt = time.Time(w.CreatedAt), time.Time(w.StartedAt), time.Time(w.FinishedAt)
	return nil
}

// UnmarshalJSON decodes a run step, reading its timestamps with ParseTime.
func (s *Step) UnmarshalJSON(b []byte) error {
	type plain Step
	w := struct {
		*plain
		StartedAt  timestamp `json:"started_at"`
		FinishedAt timestamp `json:"finished_at"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	s.StartedAt, s.FinishedAt = time.Time(w.StartedAt), time.Time(w.FinishedAt)
	return nil
}
