package devcloud

import (
	"fmt"
	"slices"
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
		OnMerge            bool `json:"on_merge"`
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

// jobJSON renders j as the v2 API does.
func jobJSON(j *job) *jobObject {
	jobCreated := time.Date(2025, 6, 2, 9, 14, 27, 512933000, time.UTC) // when the simulated jobs were defined
	o := &jobObject{
		GenerateDocs: j.generateDocs, RunGenerateSources: j.runGenerateSources,
		ID: j.id, AccountID: j.acct().id, ProjectID: j.env.proj.id, EnvironmentID: j.env.id,
		Name:         j.name,
		CreatedAt:    jobCreated.Format("2006-01-02T15:04:05.000000+00:00"),
		UpdatedAt:    jobCreated.Add(37 * time.Second).Format("2006-01-02T15:04:05.000000+00:00"),
		ExecuteSteps: slices.Clone(j.executeSteps),
		State:        1, GenerateSources: j.runGenerateSources,
		JobType: j.jobType,
	}
	o.Settings.Threads, o.Settings.TargetName = 4, "default"
	switch j.jobType {
	case "ci":
		o.Triggers.GithubWebhook, o.Triggers.GitProviderWebhook = true, true
		o.CronHumanized = "Every hour"
		o.Schedule.Cron = "0 * * * *"
		o.Schedule.Date.Type, o.Schedule.Time.Type, o.Schedule.Time.Interval = "every_day", "every_hour", 1
		o.Settings.TargetName = "ci"
	case "merge":
		o.Triggers.OnMerge = true
		o.CronHumanized = "Every hour"
		o.Schedule.Cron = "0 * * * *"
		o.Schedule.Date.Type, o.Schedule.Time.Type, o.Schedule.Time.Interval = "every_day", "every_hour", 1
	default:
		o.Triggers.Schedule = j.jobType == "scheduled"
		o.Triggers.CustomBranchOnly = true
		o.CronHumanized = "At 06:00 AM"
		o.Schedule.Cron = "0 6 * * *"
		o.Schedule.Date.Type, o.Schedule.Time.Type = "every_day", "at_exact_hours"
	}
	return o
}

// runJSON renders r as dbt does, with the related objects asked for; the
// caller holds s.mu.
func (s *Server) runJSON(r *run, rel map[string]bool, now time.Time) *runObject {
	steps, times, codes := runSteps(r, now)
	j := r.job
	started, finished := r.started, r.finished
	dequeued := started.Add(-4 * time.Second)
	created := r.created
	end := finished
	if !r.complete() {
		end = now
	}
	arts := s.runArtifacts(r)
	o := &runObject{
		ID: r.id, TriggerID: r.id + 1_000_000, AccountID: j.acct().id, EnvironmentID: j.env.id,
		ProjectID: j.env.proj.id, JobDefinitionID: j.id, Status: r.status, DBTVersion: j.env.dbtVersion,
		GitBranch: "main", GitSHA: fmt.Sprintf("%040x", r.id*7919),
		ExecutedByThreadID:  fmt.Sprintf("dbt-run-%d-x7k2q", r.id),
		ArtifactsSaved:      r.complete() && r.status != statusCancelled,
		ArtifactS3Path:      fmt.Sprintf("prod-us-c1/runs/%d/artifacts/target", r.id),
		HasDocsGenerated:    r.complete() && r.status != statusCancelled && j.generateDocs && hasFile(arts, kindDocs, steps, "catalog.json"),
		HasSourcesGenerated: r.complete() && j.runGenerateSources && hasFile(arts, kindFreshness, steps, "sources.json"),
		NotificationsSent:   r.complete(), BlockedBy: []int64{}, ScribeEnabled: true,
		CreatedAt: pyTS(created), UpdatedAt: pyTS(end.Add(73 * time.Millisecond)),
		DequeuedAt: pyTS(dequeued), StartedAt: pyTS(started),
		RunSteps:        []stepObject{},
		StatusHumanized: humanStatus(r.status), IsComplete: r.complete(), InProgress: !r.complete(), IsRunning: !r.complete(),
		IsSuccess: r.status == statusSuccess, IsError: r.status == statusError, IsCancelled: r.status == statusCancelled,
		Href:     fmt.Sprintf("https://devcloud.local/deploy/%d/projects/%d/runs/%d/", j.acct().id, j.env.proj.id, r.id),
		Duration: clock(end.Sub(created)), QueuedDuration: clock(started.Sub(created)), RunDuration: clock(end.Sub(started)),
		DurationHumanized: humanize(end.Sub(created)), QueuedDurationHumanized: humanize(started.Sub(created)),
		RunDurationHumanized: humanize(end.Sub(started)),
		CreatedAtHumanized:   humanize(now.Sub(created)) + " ago",
		JobID:                j.id, CanRetry: r.complete() && r.status != statusSuccess,
	}
	if r.complete() {
		o.FinishedAt = pyTS(finished)
		o.FinishedAtHumanized = humanize(now.Sub(finished)) + " ago"
		o.LastCheckedAt, o.LastHeartbeatAt = pyTS(finished.Add(-2*time.Second)), pyTS(finished.Add(-3*time.Second))
	} else {
		o.LastCheckedAt, o.LastHeartbeatAt = pyTS(now.Add(-time.Second)), pyTS(now.Add(-2*time.Second))
	}
	switch r.status {
	case statusError:
		msg := "dbt command failed"
		o.StatusMessage = &msg
	case statusCancelled:
		msg := "Cancelled by user."
		o.StatusMessage = &msg
	}
	if r.status == statusSuccess {
		reason := "RUN_SUCCEEDED"
		o.RetryNotSupportedReason = &reason
	}
	if rel["trigger"] {
		branch := "main"
		o.Trigger = &triggerObj{ID: o.TriggerID, Cause: "Kicked off by the scheduler", CauseCategory: "scheduled",
			JobDefinitionID: j.id, GitBranch: &branch, CreatedAt: o.CreatedAt}
		if j.jobType == "ci" {
			o.Trigger.Cause, o.Trigger.CauseCategory = "Triggered by a pull request", "ci"
		}
	}
	if rel["job"] {
		o.Job = jobJSON(j)
	}
	if rel["run_steps"] {
		for i, st := range steps {
			code := codes[i]
			so := stepObject{
				ID: r.id*100 + int64(i+1), RunID: r.id, AccountID: j.acct().id, Index: i + 1, Status: code, Name: st.name,
				CreatedAt: pyTS(times[i].start.Add(-50 * time.Millisecond)), UpdatedAt: pyTS(times[i].end.Add(20 * time.Millisecond)),
				StartedAt: pyTS(times[i].start), FinishedAt: pyTS(times[i].end),
				StatusColor: statusColor(code), StatusHumanized: humanStatus(code),
				Duration: clock(times[i].end.Sub(times[i].start)), DurationHumanized: humanize(times[i].end.Sub(times[i].start)),
			}
			if code == statusRunning {
				so.FinishedAt = nil
			}
			o.RunSteps = append(o.RunSteps, so)
		}
	}
	return o
}

// hasFile reports whether the first step of kind serves name.
func hasFile(arts []stepArtifacts, kind stepKind, steps []stepSpec, name string) bool {
	for i, st := range steps {
		if st.kind == kind && i < len(arts) {
			return arts[i].has(name)
		}
	}
	return false
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
