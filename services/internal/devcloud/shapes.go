package devcloud

import (
	"fmt"
	"time"
)

// runObject is a v2 RunResponse, its fields in the order real responses use
// (dbt-cloud-cli tests/data/run_get_response.json), then the newer fields
// from the OpenAPI spec. Pointers are dbt's nullable fields.
type runObject struct {
	ID                      int64        `json:"id"`
	TriggerID               int64        `json:"trigger_id"`
	AccountID               int64        `json:"account_id"`
	EnvironmentID           int64        `json:"environment_id"`
	ProjectID               int64        `json:"project_id"`
	JobDefinitionID         int64        `json:"job_definition_id"`
	Status                  int          `json:"status"`
	DBTVersion              string       `json:"dbt_version"`
	GitBranch               string       `json:"git_branch"`
	GitSHA                  string       `json:"git_sha"`
	StatusMessage           *string      `json:"status_message"`
	OwnerThreadID           *string      `json:"owner_thread_id"`
	ExecutedByThreadID      string       `json:"executed_by_thread_id"`
	DeferringRunID          *int64       `json:"deferring_run_id"`
	ArtifactsSaved          bool         `json:"artifacts_saved"`
	ArtifactS3Path          string       `json:"artifact_s3_path"`
	HasDocsGenerated        bool         `json:"has_docs_generated"`
	HasSourcesGenerated     bool         `json:"has_sources_generated"`
	NotificationsSent       bool         `json:"notifications_sent"`
	BlockedBy               []int64      `json:"blocked_by"`
	ScribeEnabled           bool         `json:"scribe_enabled"`
	CreatedAt               *string      `json:"created_at"`
	UpdatedAt               *string      `json:"updated_at"`
	DequeuedAt              *string      `json:"dequeued_at"`
	StartedAt               *string      `json:"started_at"`
	FinishedAt              *string      `json:"finished_at"`
	LastCheckedAt           *string      `json:"last_checked_at"`
	LastHeartbeatAt         *string      `json:"last_heartbeat_at"`
	ShouldStartAt           *string      `json:"should_start_at"`
	Trigger                 *triggerObj  `json:"trigger"`
	Job                     *jobObject   `json:"job"`
	Environment             *struct{}    `json:"environment"`
	RunSteps                []stepObject `json:"run_steps"`
	StatusHumanized         string       `json:"status_humanized"`
	InProgress              bool         `json:"in_progress"`
	IsComplete              bool         `json:"is_complete"`
	IsSuccess               bool         `json:"is_success"`
	IsError                 bool         `json:"is_error"`
	IsCancelled             bool         `json:"is_cancelled"`
	Href                    string       `json:"href"`
	Duration                string       `json:"duration"`
	QueuedDuration          string       `json:"queued_duration"`
	RunDuration             string       `json:"run_duration"`
	DurationHumanized       string       `json:"duration_humanized"`
	QueuedDurationHumanized string       `json:"queued_duration_humanized"`
	RunDurationHumanized    string       `json:"run_duration_humanized"`
	CreatedAtHumanized      string       `json:"created_at_humanized"`
	FinishedAtHumanized     string       `json:"finished_at_humanized"`
	JobID                   int64        `json:"job_id"`
	IsRunning               bool         `json:"is_running"`
	RetryingRunID           *int64       `json:"retrying_run_id"`
	CanRetry                bool         `json:"can_retry"`
	RetryNotSupportedReason *string      `json:"retry_not_supported_reason"`
	UsedRepoCache           *bool        `json:"used_repo_cache"`
	Deprecation             *struct{}    `json:"deprecation"`
	Audit                   *struct{}    `json:"audit"`
}

// triggerObj is a v2 RunTrigger.
type triggerObj struct {
	ID                     int64    `json:"id"`
	Cause                  string   `json:"cause"`
	CauseCategory          string   `json:"cause_category"`
	JobDefinitionID        int64    `json:"job_definition_id"`
	GitBranch              *string  `json:"git_branch"`
	GitSHA                 *string  `json:"git_sha"`
	AzurePullRequestID     *int64   `json:"azure_pull_request_id"`
	GithubPullRequestID    *int64   `json:"github_pull_request_id"`
	GitlabMergeRequestID   *int64   `json:"gitlab_merge_request_id"`
	NonNativePullRequestID *int64   `json:"non_native_pull_request_id"`
	SchemaOverride         *string  `json:"schema_override"`
	DBTVersionOverride     *string  `json:"dbt_version_override"`
	ThreadsOverride        *int     `json:"threads_override"`
	TargetNameOverride     *string  `json:"target_name_override"`
	GenerateDocsOverride   *bool    `json:"generate_docs_override"`
	TimeoutSecondsOverride *int     `json:"timeout_seconds_override"`
	StepsOverride          []string `json:"steps_override"`
	CreatedAt              *string  `json:"created_at"`
}

// stepObject is a v2 run step (RunStepResponse, without the logs' text).
type stepObject struct {
	ID                 int64   `json:"id"`
	RunID              int64   `json:"run_id"`
	AccountID          int64   `json:"account_id"`
	Index              int     `json:"index"`
	Status             int     `json:"status"`
	Name               string  `json:"name"`
	Logs               string  `json:"logs"`
	DebugLogs          string  `json:"debug_logs"`
	LogPath            *string `json:"log_path"`
	DebugLogPath       *string `json:"debug_log_path"`
	TruncatedDebugLogs string  `json:"truncated_debug_logs"`
	CreatedAt          *string `json:"created_at"`
	UpdatedAt          *string `json:"updated_at"`
	StartedAt          *string `json:"started_at"`
	FinishedAt         *string `json:"finished_at"`
	StatusColor        string  `json:"status_color"`
	StatusHumanized    string  `json:"status_humanized"`
	Duration           string  `json:"duration"`
	DurationHumanized  string  `json:"duration_humanized"`
}

// jobObject is a v2 job definition, in the order of job_get_response.json.
type jobObject struct {
	Execution struct {
		TimeoutSeconds int `json:"timeout_seconds"`
	} `json:"execution"`
	GenerateDocs             bool     `json:"generate_docs"`
	RunGenerateSources       bool     `json:"run_generate_sources"`
	ID                       int64    `json:"id"`
	AccountID                int64    `json:"account_id"`
	ProjectID                int64    `json:"project_id"`
	EnvironmentID            int64    `json:"environment_id"`
	Name                     string   `json:"name"`
	DBTVersion               *string  `json:"dbt_version"`
	CreatedAt                string   `json:"created_at"`
	UpdatedAt                string   `json:"updated_at"`
	ExecuteSteps             []string `json:"execute_steps"`
	State                    int      `json:"state"`
	DeferringJobDefinitionID *int64   `json:"deferring_job_definition_id"`
	LifecycleWebhooks        bool     `json:"lifecycle_webhooks"`
	LifecycleWebhooksURL     *string  `json:"lifecycle_webhooks_url"`
	Triggers                 struct {
		GithubWebhook      bool `json:"github_webhook"`
		GitProviderWebhook bool `json:"git_provider_webhook"`
		CustomBranchOnly   bool `json:"custom_branch_only"`
		Schedule           bool `json:"schedule"`
	} `json:"triggers"`
	Settings struct {
		Threads    int    `json:"threads"`
		TargetName string `json:"target_name"`
	} `json:"settings"`
	Schedule struct {
		Cron string `json:"cron"`
		Date struct {
			Type string `json:"type"`
		} `json:"date"`
		Time struct {
			Type     string `json:"type"`
			Interval int    `json:"interval"`
		} `json:"time"`
	} `json:"schedule"`
	IsDeferrable     bool    `json:"is_deferrable"`
	GenerateSources  bool    `json:"generate_sources"`
	CronHumanized    string  `json:"cron_humanized"`
	NextRun          *string `json:"next_run"`
	NextRunHumanized *string `json:"next_run_humanized"`
	JobType          string  `json:"job_type"`
}

func (s *Server) jobJSON() *jobObject {
	jobCreated := time.Date(2025, 6, 2, 9, 14, 27, 512933000, time.UTC) // when the simulated job was defined
	j := &jobObject{
		GenerateDocs: s.hasDocs, RunGenerateSources: s.hasSrc,
		ID: s.cfg.JobID, AccountID: s.cfg.AccountID, ProjectID: s.cfg.ProjectID, EnvironmentID: s.cfg.EnvironmentID,
		Name:         s.cfg.JobName,
		CreatedAt:    jobCreated.Format("2006-01-02T15:04:05.000000+00:00"),
		UpdatedAt:    jobCreated.Add(37 * time.Second).Format("2006-01-02T15:04:05.000000+00:00"),
		ExecuteSteps: []string{"dbt build"},
		State:        1, GenerateSources: s.hasSrc,
		CronHumanized: "At 06:00 AM", JobType: "scheduled",
	}
	j.Triggers.Schedule = true
	j.Triggers.CustomBranchOnly = true
	j.Settings.Threads, j.Settings.TargetName = 4, "default"
	j.Schedule.Cron = "0 6 * * *"
	j.Schedule.Date.Type, j.Schedule.Time.Type = "every_day", "at_exact_hours"
	return j
}

// runJSON renders run as dbt does, with the related objects asked for.
func (s *Server) runJSON(run runSpec, rel map[string]bool, now time.Time) *runObject {
	steps, times := s.runSteps(run)
	started, finished := times[0].start, run.finished
	dequeued := started.Add(-4 * time.Second)
	created := dequeued.Add(-9*time.Second - 318*time.Microsecond)
	c := s.cfg
	o := &runObject{
		ID: run.id, TriggerID: run.id + 1_000_000, AccountID: c.AccountID, EnvironmentID: c.EnvironmentID,
		ProjectID: c.ProjectID, JobDefinitionID: c.JobID, Status: run.status, DBTVersion: c.DBTVersion,
		GitBranch: "main", GitSHA: fmt.Sprintf("%040x", run.id*7919),
		ExecutedByThreadID:  fmt.Sprintf("dbt-run-%d-x7k2q", run.id),
		ArtifactsSaved:      run.status != statusCancelled,
		ArtifactS3Path:      fmt.Sprintf("prod-us-c1/runs/%d/artifacts/target", run.id),
		HasDocsGenerated:    s.hasDocs && run.status != statusCancelled,
		HasSourcesGenerated: s.hasSrc,
		NotificationsSent:   true, BlockedBy: []int64{}, ScribeEnabled: true,
		CreatedAt: pyTS(created), UpdatedAt: pyTS(finished.Add(73 * time.Millisecond)),
		DequeuedAt: pyTS(dequeued), StartedAt: pyTS(started), FinishedAt: pyTS(finished),
		RunSteps:        []stepObject{},
		StatusHumanized: humanStatus(run.status), IsComplete: true,
		IsSuccess: run.status == statusSuccess, IsError: run.status == statusError, IsCancelled: run.status == statusCancelled,
		Href:     fmt.Sprintf("https://devcloud.local/deploy/%d/projects/%d/runs/%d/", c.AccountID, c.ProjectID, run.id),
		Duration: clock(finished.Sub(created)), QueuedDuration: clock(started.Sub(created)), RunDuration: clock(finished.Sub(started)),
		DurationHumanized: humanize(finished.Sub(created)), QueuedDurationHumanized: humanize(started.Sub(created)),
		RunDurationHumanized: humanize(finished.Sub(started)),
		CreatedAtHumanized:   humanize(now.Sub(created)) + " ago", FinishedAtHumanized: humanize(now.Sub(finished)) + " ago",
		JobID: c.JobID, CanRetry: run.status != statusSuccess,
	}
	switch run.status {
	case statusError:
		msg := "dbt command failed"
		o.StatusMessage = &msg
	case statusCancelled:
		msg := "Cancelled by user."
		o.StatusMessage = &msg
	}
	if run.status == statusSuccess {
		reason := "RUN_SUCCEEDED"
		o.RetryNotSupportedReason = &reason
	}
	if rel["trigger"] {
		branch := "main"
		o.Trigger = &triggerObj{ID: o.TriggerID, Cause: "Kicked off by the scheduler", CauseCategory: "scheduled",
			JobDefinitionID: c.JobID, GitBranch: &branch, CreatedAt: o.CreatedAt}
	}
	if rel["job"] {
		o.Job = s.jobJSON()
	}
	if rel["run_steps"] {
		for i, st := range steps {
			code := stepStatus(run, st)
			o.RunSteps = append(o.RunSteps, stepObject{
				ID: run.id*100 + int64(i+1), RunID: run.id, AccountID: c.AccountID, Index: i + 1, Status: code, Name: st.name,
				CreatedAt: pyTS(times[i].start.Add(-50 * time.Millisecond)), UpdatedAt: pyTS(times[i].end.Add(20 * time.Millisecond)),
				StartedAt: pyTS(times[i].start), FinishedAt: pyTS(times[i].end),
				StatusColor: statusColor(code), StatusHumanized: humanStatus(code),
				Duration: clock(st.dur), DurationHumanized: humanize(st.dur),
			})
		}
	}
	return o
}

func statusColor(code int) string {
	switch code {
	case statusSuccess:
		return "#049F75"
	case statusError:
		return "#F32D2D"
	}
	return "#6C757D"
}
