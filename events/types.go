package events

import "time"

// CloudEvent types.
const (
	TypeRunStarted       = "com.getdbt.cloud.job.run.started"
	TypeRunCompleted     = "com.getdbt.cloud.job.run.completed"
	TypeRunErrored       = "com.getdbt.cloud.job.run.errored"
	TypeArtifactsFetched = "dbt.harvester.artifacts.fetched"
	TypeAssetHarvested   = "dbt.harvester.asset.harvested"
	TypeHarvestCompleted = "dbt.harvester.harvest.completed"
	TypeHarvestFailed    = "dbt.harvester.harvest.failed"
)

// RunRef identifies a dbt Cloud job run. It is the run context every event carries.
type RunRef struct {
	AccountID     int64 `json:"account_id"`
	ProjectID     int64 `json:"project_id"`
	EnvironmentID int64 `json:"environment_id"`
	JobID         int64 `json:"job_id"`
	RunID         int64 `json:"run_id"`
}

// RunFacts is what the fetcher learned about the run from the Admin API.
type RunFacts struct {
	RunRef
	JobName             string     `json:"job_name,omitempty"`
	ProjectName         string     `json:"project_name,omitempty"`
	EnvironmentName     string     `json:"environment_name,omitempty"`
	Status              string     `json:"status,omitempty"` // dbt's status_humanized: Success, Error, Cancelled, ...
	StatusCode          int        `json:"status_code,omitempty"`
	StatusMessage       string     `json:"status_message,omitempty"`
	DBTVersion          string     `json:"dbt_version,omitempty"`
	TriggerCause        string     `json:"trigger_cause,omitempty"`
	GitBranch           string     `json:"git_branch,omitempty"`
	GitSHA              string     `json:"git_sha,omitempty"`
	StartedAt           *time.Time `json:"started_at,omitempty"`
	FinishedAt          *time.Time `json:"finished_at,omitempty"`
	HasDocsGenerated    bool       `json:"has_docs_generated"`
	HasSourcesGenerated bool       `json:"has_sources_generated"`
	Href                string     `json:"href,omitempty"`
	WebhookEventID      string     `json:"webhook_event_id,omitempty"` // the eventId that triggered the harvest, if any
}

// Artifact names the fetcher knows.
const (
	ManifestJSON         = "manifest.json"
	RunResultsJSON       = "run_results.json"
	CatalogJSON          = "catalog.json"
	SourcesJSON          = "sources.json"
	SemanticManifestJSON = "semantic_manifest.json"
)

// ArtifactsFetched is the data of a dbt.harvester.artifacts.fetched event: the
// run, every artifact stored in the object store, and every expected artifact
// that is absent with the reason.
type ArtifactsFetched struct {
	Run        RunFacts         `json:"run"`
	Generation int              `json:"generation"` // 1 for the first harvest of a run; replays count up
	Artifacts  []StoredArtifact `json:"artifacts"`
	Absent     []AbsentArtifact `json:"absent"`
	Warnings   []string         `json:"warnings"`
	FetchedAt  time.Time        `json:"fetched_at"`
}

// StoredArtifact is one artifact in object store DBT_ARTIFACTS.
type StoredArtifact struct {
	Name          string `json:"name"`                     // manifest.json
	Step          int    `json:"step"`                     // run step index (1-based); 0 when the run's default was used
	StepName      string `json:"step_name,omitempty"`      // e.g. "Invoke dbt with `dbt build`"
	Bucket        string `json:"bucket"`                   // DBT_ARTIFACTS
	Key           string `json:"key"`                      // <account>/<run>/<step>/<file>
	Size          int64  `json:"size"`                     // bytes
	SHA256        string `json:"sha256"`                   // lowercase hex
	SchemaVersion string `json:"schema_version,omitempty"` // from metadata.dbt_schema_version, e.g. https://schemas.getdbt.com/dbt/manifest/v12.json
}

// AbsentArtifact is an artifact the harvest expected and does not have.
type AbsentArtifact struct {
	Name   string `json:"name"`
	Step   int    `json:"step,omitempty"`
	Reason string `json:"reason"`
}

// Asset is the data of a dbt.harvester.asset.harvested event: one dbt node,
// source, exposure, metric, semantic model, saved query or unit test, joined
// with its catalog entry and its result in this run. Absent facts are omitted.
type Asset struct {
	AssetID string `json:"asset_id"` // stable across runs: <account>/<project>/<environment>/<unique_id>
	RunRef

	UniqueID         string   `json:"unique_id"`
	ResourceType     string   `json:"resource_type"`
	Name             string   `json:"name"`
	PackageName      string   `json:"package_name"`
	OriginalFilePath string   `json:"original_file_path,omitempty"`
	Path             string   `json:"path,omitempty"`
	FQN              []string `json:"fqn,omitempty"`

	Database        string `json:"database,omitempty"`
	Schema          string `json:"schema,omitempty"`
	Identifier      string `json:"identifier,omitempty"` // alias for nodes, identifier for sources
	RelationName    string `json:"relation_name,omitempty"`
	Materialization string `json:"materialization,omitempty"`
	TableType       string `json:"table_type,omitempty"`    // from the catalog: BASE TABLE, VIEW, ...
	TableComment    string `json:"table_comment,omitempty"` // from the catalog: the relation's comment in the warehouse
	TableOwner      string `json:"table_owner,omitempty"`   // from the catalog: the relation's owner in the warehouse
	Language        string `json:"language,omitempty"`      // sql | python, for nodes with code

	Description      string         `json:"description"`
	Label            string         `json:"label,omitempty"`       // display label of exposures, metrics, semantic models, saved queries
	MetricType       string         `json:"metric_type,omitempty"` // metrics: type (simple, ratio, ...), or calculation_method in manifest v7-v9
	Tags             []string       `json:"tags"`
	Meta             map[string]any `json:"meta"`
	Owner            string         `json:"owner,omitempty"`
	Group            string         `json:"group,omitempty"`
	Access           string         `json:"access,omitempty"`
	Version          string         `json:"version,omitempty"`
	LatestVersion    string         `json:"latest_version,omitempty"`
	ContractEnforced bool           `json:"contract_enforced,omitempty"`

	Columns    []Column `json:"columns"`
	DependsOn  []string `json:"depends_on"`           // direct upstream unique IDs
	Downstream []string `json:"downstream,omitempty"` // direct downstream unique IDs
	Tests      []string `json:"tests,omitempty"`      // unique IDs of tests attached to this asset

	Checksum     string `json:"checksum,omitempty"`
	RawCode      string `json:"raw_code,omitempty"`      // only with HARVESTER_INCLUDE_CODE=1
	CompiledCode string `json:"compiled_code,omitempty"` // only with HARVESTER_INCLUDE_CODE=1

	Result   *Result        `json:"result,omitempty"`
	Test     *TestInfo      `json:"test,omitempty"`     // tests only
	Source   *SourceInfo    `json:"source,omitempty"`   // sources only
	Exposure *ExposureInfo  `json:"exposure,omitempty"` // exposures only
	Stats    map[string]any `json:"stats,omitempty"`    // catalog table stats by stat id: value

	// FullObject is set when the asset's event would exceed NATS's 1 MiB
	// payload limit: the complete asset is then stored in object store
	// DBT_ARTIFACTS under this key, and this event omits code and columns.
	FullObject string `json:"full_object,omitempty"`

	Change        string   `json:"change,omitempty"`         // new | changed | unchanged, against the previous harvest
	ChangedFields []string `json:"changed_fields,omitempty"` // top-level fields that changed
}

// Column is one column of an asset, merged from the catalog (types, index,
// comment) and the YAML (description, tags, meta, declared type).
type Column struct {
	Name           string         `json:"name"`
	DataType       string         `json:"data_type,omitempty"`
	DataTypeSource string         `json:"data_type_source,omitempty"` // catalog | yaml
	Description    string         `json:"description"`
	Index          int            `json:"index,omitempty"` // 1-based position from the catalog
	Comment        string         `json:"comment,omitempty"`
	Tags           []string       `json:"tags,omitempty"`
	Meta           map[string]any `json:"meta,omitempty"`
	Tests          []string       `json:"tests,omitempty"` // unique IDs of tests on this column
	InCatalog      bool           `json:"in_catalog"`
	InManifest     bool           `json:"in_manifest"`
}

// Result is a node's result in this run, from run_results.json.
type Result struct {
	Status          string         `json:"status"` // passed through as dbt wrote it: success, error, pass, fail, warn, skipped, no-op, reused, ...
	ExecutionTime   float64        `json:"execution_time"`
	Message         string         `json:"message,omitempty"`
	Failures        *int64         `json:"failures,omitempty"`
	RowsAffected    *int64         `json:"rows_affected,omitempty"`
	AdapterResponse map[string]any `json:"adapter_response,omitempty"`
	ThreadID        string         `json:"thread_id,omitempty"`
	CompileStarted  *time.Time     `json:"compile_started_at,omitempty"`
	CompileDone     *time.Time     `json:"compile_completed_at,omitempty"`
	ExecuteStarted  *time.Time     `json:"execute_started_at,omitempty"`
	ExecuteDone     *time.Time     `json:"execute_completed_at,omitempty"`
	InvocationID    string         `json:"invocation_id,omitempty"`
	// Freshness, for sources with a sources.json entry.
	MaxLoadedAt   *time.Time `json:"max_loaded_at,omitempty"`
	SnapshottedAt *time.Time `json:"snapshotted_at,omitempty"`
	AgeSeconds    *float64   `json:"max_loaded_at_time_ago_in_s,omitempty"`
}

// TestInfo says what a test tests and how.
type TestInfo struct {
	TestName     string         `json:"test_name,omitempty"` // generic test name (not_null, unique, ...); empty for singular tests
	Kwargs       map[string]any `json:"kwargs,omitempty"`
	AttachedNode string         `json:"attached_node,omitempty"`
	ColumnName   string         `json:"column_name,omitempty"`
	Severity     string         `json:"severity,omitempty"`
	WarnIf       string         `json:"warn_if,omitempty"`
	ErrorIf      string         `json:"error_if,omitempty"`
}

// SourceInfo describes a source table.
type SourceInfo struct {
	SourceName    string         `json:"source_name"`
	Loader        string         `json:"loader,omitempty"`
	LoadedAtField string         `json:"loaded_at_field,omitempty"`
	Freshness     map[string]any `json:"freshness,omitempty"` // criteria as in the manifest
}

// ExposureInfo describes an exposure.
type ExposureInfo struct {
	Type       string `json:"type,omitempty"`
	Maturity   string `json:"maturity,omitempty"`
	URL        string `json:"url,omitempty"`
	OwnerName  string `json:"owner_name,omitempty"`
	OwnerEmail string `json:"owner_email,omitempty"`
}

// HarvestCompleted is the data of a dbt.harvester.harvest.completed event; it
// closes a harvest and follows every asset event of it.
type HarvestCompleted struct {
	Run              RunFacts          `json:"run"`
	Generation       int               `json:"generation"`
	Assets           int               `json:"assets"`          // asset events published
	Counts           map[string]int    `json:"counts"`          // assets per resource type
	ResultStatuses   map[string]int    `json:"result_statuses"` // run_results statuses: success, error, ...
	Tests            TestOutcomes      `json:"tests"`
	Changes          map[string]int    `json:"changes,omitempty"` // new, changed, unchanged
	Removed          []string          `json:"removed,omitempty"` // asset IDs no longer in the project
	ArtifactVersions map[string]string `json:"artifact_versions"` // artifact name -> dbt_schema_version
	Absent           []AbsentArtifact  `json:"absent,omitempty"`
	Warnings         []string          `json:"warnings"`
	StartedAt        time.Time         `json:"started_at"`
	CompletedAt      time.Time         `json:"completed_at"`
	NormalizeMillis  int64             `json:"normalize_ms"`
}

// TestOutcomes counts test results in the run.
type TestOutcomes struct {
	Pass    int `json:"pass"`
	Warn    int `json:"warn"`
	Fail    int `json:"fail"`
	Error   int `json:"error"`
	Skipped int `json:"skipped"`
	Other   int `json:"other"`
}

// HarvestFailed is the data of a dbt.harvester.harvest.failed event: the run's
// harvest ended without metadata, and why.
type HarvestFailed struct {
	Run        RunFacts  `json:"run"`
	Generation int       `json:"generation"`
	Stage      string    `json:"stage"`         // fetch | normalize
	Reason     string    `json:"reason"`        // what went wrong
	Fix        string    `json:"fix,omitempty"` // what the operator should do
	FailedAt   time.Time `json:"failed_at"`
}

// HarvestRecord is a run's entry in KV bucket DBT_HARVESTS: how its latest
// harvest ended. The reconciler and the operator commands read it to know
// which runs were harvested.
type HarvestRecord struct {
	Run        RunRef    `json:"run"`
	Generation int       `json:"generation"`
	Status     string    `json:"status"` // completed | failed
	Stage      string    `json:"stage,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Assets     int       `json:"assets,omitempty"`
	At         time.Time `json:"at"`
}
