package gen

import (
	"encoding/json"
)

// The structs below mirror dbt 1.9's dataclasses field by field, in dbt's
// order, so that the JSON reads like a real manifest. Embedded pointers carry
// the fields only some resource types have; a nil one adds nothing.

type fileHash struct {
	Name     string `json:"name"`
	Checksum string `json:"checksum"`
}

type docsConfig struct {
	Show      bool    `json:"show"`
	NodeColor *string `json:"node_color"`
}

type contractConfig struct {
	Enforced   bool `json:"enforced"`
	AliasTypes bool `json:"alias_types"`
}

type nodeContract struct {
	Enforced   bool    `json:"enforced"`
	AliasTypes bool    `json:"alias_types"`
	Checksum   *string `json:"checksum"`
}

type refArgs struct {
	Name    string  `json:"name"`
	Package *string `json:"package"`
	Version *string `json:"version"`
}

type dependsOn struct {
	Macros []string `json:"macros"`
	Nodes  []string `json:"nodes"`
}

type macroDepends struct {
	Macros []string `json:"macros"`
}

type object0 = map[string]any

// nodeConfig is dbt's NodeConfig; the embedded pointers add the per-type fields.
type nodeConfig struct {
	Enabled               bool           `json:"enabled"`
	Alias                 *string        `json:"alias"`
	Schema                *string        `json:"schema"`
	Database              *string        `json:"database"`
	Tags                  []string       `json:"tags"`
	Meta                  object0        `json:"meta"`
	Group                 *string        `json:"group"`
	Materialized          string         `json:"materialized"`
	IncrementalStrategy   *string        `json:"incremental_strategy"`
	BatchSize             *string        `json:"batch_size"`
	Lookback              int            `json:"lookback"`
	Begin                 *string        `json:"begin"`
	PersistDocs           object0        `json:"persist_docs"`
	PostHook              []any          `json:"post-hook"`
	PreHook               []any          `json:"pre-hook"`
	Quoting               object0        `json:"quoting"`
	ColumnTypes           object0        `json:"column_types"`
	FullRefresh           *bool          `json:"full_refresh"`
	UniqueKey             *string        `json:"unique_key"`
	OnSchemaChange        string         `json:"on_schema_change"`
	OnConfigurationChange string         `json:"on_configuration_change"`
	Grants                object0        `json:"grants"`
	Packages              []string       `json:"packages"`
	Docs                  docsConfig     `json:"docs"`
	Contract              contractConfig `json:"contract"`
	EventTime             *string        `json:"event_time"`
	ConcurrentBatches     *bool          `json:"concurrent_batches"`
	*modelConfigExtra
	*seedConfigExtra
	*snapshotConfigExtra
}

type modelConfigExtra struct {
	Access string `json:"access"`
}

type seedConfigExtra struct {
	Delimiter    string `json:"delimiter"`
	QuoteColumns *bool  `json:"quote_columns"`
}

type snapshotConfigExtra struct {
	Strategy                string             `json:"strategy"`
	TargetSchema            string             `json:"target_schema"`
	TargetDatabase          *string            `json:"target_database"`
	UpdatedAt               string             `json:"updated_at"`
	CheckCols               *string            `json:"check_cols"`
	SnapshotMetaColumnNames map[string]*string `json:"snapshot_meta_column_names"`
	DbtValidToCurrent       *string            `json:"dbt_valid_to_current"`
}

type testConfig struct {
	Enabled         bool     `json:"enabled"`
	Alias           *string  `json:"alias"`
	Schema          string   `json:"schema"`
	Database        *string  `json:"database"`
	Tags            []string `json:"tags"`
	Meta            object0  `json:"meta"`
	Group           *string  `json:"group"`
	Materialized    string   `json:"materialized"`
	Severity        string   `json:"severity"`
	StoreFailures   *bool    `json:"store_failures"`
	StoreFailuresAs *string  `json:"store_failures_as"`
	Where           *string  `json:"where"`
	Limit           *int     `json:"limit"`
	FailCalc        string   `json:"fail_calc"`
	WarnIf          string   `json:"warn_if"`
	ErrorIf         string   `json:"error_if"`
}

type columnConstraint struct {
	Type            string   `json:"type"`
	Name            *string  `json:"name"`
	Expression      *string  `json:"expression"`
	WarnUnenforced  bool     `json:"warn_unenforced"`
	WarnUnsupported bool     `json:"warn_unsupported"`
	To              *string  `json:"to"`
	ToColumns       []string `json:"to_columns"`
}

type columnInfo struct {
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Meta        object0            `json:"meta"`
	DataType    *string            `json:"data_type"`
	Constraints []columnConstraint `json:"constraints"`
	Quote       *bool              `json:"quote"`
	Tags        []string           `json:"tags"`
	Granularity *string            `json:"granularity"`
}

// columnMap is a YAML columns mapping that keeps declaration order.
type columnMap []columnInfo

func (m columnMap) MarshalJSON() ([]byte, error) {
	out := []byte{'{'}
	for i, c := range m {
		if i > 0 {
			out = append(out, ',')
		}
		k, err := json.Marshal(c.Name)
		if err != nil {
			return nil, err
		}
		v, err := marshalNoEscape(c)
		if err != nil {
			return nil, err
		}
		out = append(append(append(out, k...), ':'), v...)
	}
	return append(out, '}'), nil
}

// manifestNode is every entry of "nodes"; the tails add per-type fields.
type manifestNode struct {
	Database         string     `json:"database"`
	Schema           string     `json:"schema"`
	Name             string     `json:"name"`
	ResourceType     string     `json:"resource_type"`
	PackageName      string     `json:"package_name"`
	Path             string     `json:"path"`
	OriginalFilePath string     `json:"original_file_path"`
	UniqueID         string     `json:"unique_id"`
	FQN              []string   `json:"fqn"`
	Alias            string     `json:"alias"`
	Checksum         fileHash   `json:"checksum"`
	Config           any        `json:"config"`
	Tags             []string   `json:"tags"`
	Description      string     `json:"description"`
	Columns          columnMap  `json:"columns"`
	Meta             object0    `json:"meta"`
	Group            *string    `json:"group"`
	Docs             docsConfig `json:"docs"`
	PatchPath        *string    `json:"patch_path"`
	BuildPath        *string    `json:"build_path"`
	UnrenderedConfig object0    `json:"unrendered_config"`
	CreatedAt        float64    `json:"created_at"`
	RelationName     *string    `json:"relation_name"`
	RawCode          string     `json:"raw_code"`
	*codeTail
	*modelTail
	*testTail
}

// seedNode is a seed: its depends_on lists macros only, and it shadows the
// one in the (nil) codeTail.
type seedNode struct {
	manifestNode
	RootPath  string       `json:"root_path"`
	DependsOn macroDepends `json:"depends_on"`
}

type codeTail struct {
	Language          string       `json:"language"`
	Refs              []refArgs    `json:"refs"`
	Sources           [][]string   `json:"sources"`
	Metrics           [][]string   `json:"metrics"`
	DependsOn         dependsOn    `json:"depends_on"`
	CompiledPath      *string      `json:"compiled_path"`
	Compiled          bool         `json:"compiled"`
	CompiledCode      string       `json:"compiled_code"`
	ExtraCTEsInjected bool         `json:"extra_ctes_injected"`
	ExtraCTEs         []any        `json:"extra_ctes"`
	Contract          nodeContract `json:"contract"`
}

type modelTail struct {
	Access          string   `json:"access"`
	Constraints     []any    `json:"constraints"`
	Version         *string  `json:"version"`
	LatestVersion   *string  `json:"latest_version"`
	DeprecationDate *string  `json:"deprecation_date"`
	PrimaryKey      []string `json:"primary_key"`
	TimeSpine       *string  `json:"time_spine"`
}

type testMetadata struct {
	Name      string  `json:"name"`
	Kwargs    object0 `json:"kwargs"`
	Namespace *string `json:"namespace"`
}

type testTail struct {
	ColumnName   *string       `json:"column_name"`
	FileKeyName  *string       `json:"file_key_name"`
	AttachedNode *string       `json:"attached_node"`
	TestMetadata *testMetadata `json:"test_metadata"`
}

type timeCriterion struct {
	Count  *int    `json:"count"`
	Period *string `json:"period"`
}

type freshness struct {
	WarnAfter  timeCriterion `json:"warn_after"`
	ErrorAfter timeCriterion `json:"error_after"`
	Filter     *string       `json:"filter"`
}

type sourceDefinition struct {
	Database           string     `json:"database"`
	Schema             string     `json:"schema"`
	Name               string     `json:"name"`
	ResourceType       string     `json:"resource_type"`
	PackageName        string     `json:"package_name"`
	Path               string     `json:"path"`
	OriginalFilePath   string     `json:"original_file_path"`
	UniqueID           string     `json:"unique_id"`
	FQN                []string   `json:"fqn"`
	SourceName         string     `json:"source_name"`
	SourceDescription  string     `json:"source_description"`
	Loader             string     `json:"loader"`
	Identifier         string     `json:"identifier"`
	Quoting            object0    `json:"quoting"`
	LoadedAtField      *string    `json:"loaded_at_field"`
	Freshness          *freshness `json:"freshness"`
	External           any        `json:"external"`
	Description        string     `json:"description"`
	Columns            columnMap  `json:"columns"`
	Meta               object0    `json:"meta"`
	SourceMeta         object0    `json:"source_meta"`
	Tags               []string   `json:"tags"`
	Config             object0    `json:"config"`
	PatchPath          *string    `json:"patch_path"`
	UnrenderedConfig   object0    `json:"unrendered_config"`
	RelationName       string     `json:"relation_name"`
	CreatedAt          float64    `json:"created_at"`
	UnrenderedDatabase *string    `json:"unrendered_database"`
	UnrenderedSchema   *string    `json:"unrendered_schema"`
}

type owner struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type exposure struct {
	Name             string     `json:"name"`
	ResourceType     string     `json:"resource_type"`
	PackageName      string     `json:"package_name"`
	Path             string     `json:"path"`
	OriginalFilePath string     `json:"original_file_path"`
	UniqueID         string     `json:"unique_id"`
	FQN              []string   `json:"fqn"`
	Type             string     `json:"type"`
	Owner            owner      `json:"owner"`
	Description      string     `json:"description"`
	Label            string     `json:"label"`
	Maturity         string     `json:"maturity"`
	Meta             object0    `json:"meta"`
	Tags             []string   `json:"tags"`
	Config           object0    `json:"config"`
	UnrenderedConfig object0    `json:"unrendered_config"`
	URL              string     `json:"url"`
	DependsOn        dependsOn  `json:"depends_on"`
	Refs             []refArgs  `json:"refs"`
	Sources          [][]string `json:"sources"`
	Metrics          [][]string `json:"metrics"`
	CreatedAt        float64    `json:"created_at"`
}

type macro struct {
	Name               string       `json:"name"`
	ResourceType       string       `json:"resource_type"`
	PackageName        string       `json:"package_name"`
	Path               string       `json:"path"`
	OriginalFilePath   string       `json:"original_file_path"`
	UniqueID           string       `json:"unique_id"`
	MacroSQL           string       `json:"macro_sql"`
	DependsOn          macroDepends `json:"depends_on"`
	Description        string       `json:"description"`
	Meta               object0      `json:"meta"`
	Docs               docsConfig   `json:"docs"`
	PatchPath          *string      `json:"patch_path"`
	Arguments          []any        `json:"arguments"`
	CreatedAt          float64      `json:"created_at"`
	SupportedLanguages []string     `json:"supported_languages"`
}
