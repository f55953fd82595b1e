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
	// ReceivedAt is when the run event that started the harvest was stored
	// on DBT_RUNS (the webhook received, or a replay's republish); nil when
	// the harvest did not start from a run event.
	ReceivedAt *time.Time `json:"received_at,omitempty"`
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
	// Command is the dbt command of the step the file came from (build, run,
	// test, docs generate, source freshness, ...), from the step's name or,
	// for run_results.json, its args.which; omitted when unknown.
	Command string `json:"command,omitempty"`
	// InvocationID is the file's metadata.invocation_id: each step (dbt
	// invocation) has its own; omitted when the file has none.
	InvocationID string `json:"invocation_id,omitempty"`
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
	// Constraints are the model-level constraints of its contract, as dbt
	// writes them (type, columns, expression, name, ...).
	Constraints []map[string]any `json:"constraints,omitempty"`
	// DeprecationDate is a versioned model's deprecation_date, as written.
	DeprecationDate string `json:"deprecation_date,omitempty"`

	Columns    []Column `json:"columns"`
	DependsOn  []string `json:"depends_on"`           // direct upstream unique IDs
	Downstream []string `json:"downstream,omitempty"` // direct downstream unique IDs
	Tests      []string `json:"tests,omitempty"`      // unique IDs of tests attached to this asset
	// TestResults counts, by outcome, this run's results of the tests
	// attached to this asset; omitted when none of them ran.
	TestResults *TestOutcomes `json:"test_results,omitempty"`

	Checksum     string `json:"checksum,omitempty"`
	RawCode      string `json:"raw_code,omitempty"`      // only with HARVESTER_INCLUDE_CODE=1
	CompiledCode string `json:"compiled_code,omitempty"` // only with HARVESTER_INCLUDE_CODE=1

	Result   *Result       `json:"result,omitempty"`
	Test     *TestInfo     `json:"test,omitempty"`     // tests only
	Source   *SourceInfo   `json:"source,omitempty"`   // sources only
	Exposure *ExposureInfo `json:"exposure,omitempty"` // exposures only
	// SemanticModel, Metric and SavedQuery hold the definitions of those
	// resource types, as the manifest writes them.
	SemanticModel *SemanticModelInfo `json:"semantic_model,omitempty"`
	Metric        *MetricInfo        `json:"metric,omitempty"`
	SavedQuery    *SavedQueryInfo    `json:"saved_query,omitempty"`
	Stats         map[string]any     `json:"stats,omitempty"` // catalog table stats by stat id: value

	// FullObject is set when the asset's event would exceed NATS's 1 MiB
	// payload limit: the complete asset is then stored in object store
	// DBT_ARTIFACTS under this key, and this event omits code and columns.
	FullObject string `json:"full_object,omitempty"`

	// LastResult is the asset's last known result: this run's Result when
	// the run executed the asset, else the last_result of the asset's
	// previous state in KV bucket DBT_ASSETS (a job that selected other
	// nodes keeps it). Omitted when no harvest of the environment has seen
	// the asset executed. Like Result it is a measurement: it never makes an
	// asset changed.
	LastResult *LastResult `json:"last_result,omitempty"`

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
	// Constraints are the column's contract constraints, as dbt writes them.
	Constraints []map[string]any `json:"constraints,omitempty"`
	Tests       []string         `json:"tests,omitempty"` // unique IDs of tests on this column
	// TestResults counts this run's results of the tests on this column.
	TestResults *TestOutcomes `json:"test_results,omitempty"`
	InCatalog   bool          `json:"in_catalog"`
	InManifest  bool          `json:"in_manifest"`
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
	// Criteria are the freshness criteria sources.json applied (warn_after,
	// error_after, filter).
	Criteria map[string]any `json:"criteria,omitempty"`
}

// LastResult is a Result with the run that produced it.
type LastResult struct {
	Result
	RunID int64 `json:"run_id"` // the dbt Cloud run that executed the asset
	// At is when that run finished (its finished_at from the Admin API),
	// or, when dbt Cloud did not say, when it was harvested.
	At time.Time `json:"at"`
}

// SemanticModelInfo is a semantic model's definition.
type SemanticModelInfo struct {
	Model         string           `json:"model,omitempty"` // the ref() of the model it is built on
	PrimaryEntity string           `json:"primary_entity,omitempty"`
	Entities      []map[string]any `json:"entities,omitempty"`   // as the manifest writes them: name, type, expr, ...
	Dimensions    []map[string]any `json:"dimensions,omitempty"` // name, type, expr, type_params, ...
	Measures      []map[string]any `json:"measures,omitempty"`   // name, agg, expr, ...
}

// MetricInfo is a metric's definition beyond its metric_type.
type MetricInfo struct {
	TypeParams map[string]any `json:"type_params,omitempty"` // measure, numerator, expr, ... as written
	Filter     map[string]any `json:"filter,omitempty"`
}

// SavedQueryInfo is a saved query's definition.
type SavedQueryInfo struct {
	QueryParams map[string]any   `json:"query_params,omitempty"` // metrics, group_by, where
	Exports     []map[string]any `json:"exports,omitempty"`
}

// ProjectInfo is the dbt project a harvest read, from the manifest's metadata.
type ProjectInfo struct {
	Name          string `json:"name,omitempty"`            // metadata.project_name (dbt 1.6+)
	DBTVersion    string `json:"dbt_version,omitempty"`     // the dbt version that wrote the manifest
	AdapterType   string `json:"adapter_type,omitempty"`    // postgres, snowflake, ...
	ProjectIDHash string `json:"project_id_hash,omitempty"` // metadata.project_id: dbt's hash of the project name
	InvocationID  string `json:"invocation_id,omitempty"`   // the manifest's dbt invocation
	GeneratedAt   string `json:"generated_at,omitempty"`    // as written
	SchemaVersion string `json:"schema_version,omitempty"`  // metadata.dbt_schema_version
}

// GroupInfo is a group of the manifest (dbt 1.5+): models of a group share
// its owner, which becomes their owner when their meta names none.
type GroupInfo struct {
	UniqueID    string `json:"unique_id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	OwnerName   string `json:"owner_name,omitempty"`
	OwnerEmail  string `json:"owner_email,omitempty"`
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
	ResultStatuses   map[string]int    `json:"result_statuses"` // per status: each node's last run result, each source's freshness
	Tests            TestOutcomes      `json:"tests"`
	Changes          map[string]int    `json:"changes,omitempty"` // new, changed, unchanged
	Removed          []string          `json:"removed,omitempty"` // asset IDs no longer in the project
	ArtifactVersions map[string]string `json:"artifact_versions"` // artifact name -> dbt_schema_version
	Project          *ProjectInfo      `json:"project,omitempty"` // the dbt project, from the manifest's metadata
	Groups           []GroupInfo       `json:"groups,omitempty"`  // the manifest's groups
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
