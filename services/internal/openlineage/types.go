package openlineage

import "github.com/dbt-harvester/harvester/events"

// Producer is the producer URI of every event and facet.
const Producer = "https://dbt-harvester.dev/harvester"

// SchemaURL is the schemaURL of every RunEvent (spec 2-0-2).
const SchemaURL = events.OpenLineageRunEventSchema

// Run states (RunEvent.eventType).
const (
	Start    = "START"
	Complete = "COMPLETE"
	Fail     = "FAIL"
	Abort    = "ABORT"
)

// Facet schema URLs, from the spec's facet files.
const (
	specFacets            = "https://openlineage.io/spec/facets/"
	schemaFacetURL        = specFacets + "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
	dataSourceFacetURL    = specFacets + "1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet"
	docDatasetFacetURL    = specFacets + "1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet"
	docJobFacetURL        = specFacets + "1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet"
	ownDatasetFacetURL    = specFacets + "1-0-1/OwnershipDatasetFacet.json#/$defs/OwnershipDatasetFacet"
	ownJobFacetURL        = specFacets + "1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet"
	sqlFacetURL           = specFacets + "1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet"
	jobTypeFacetURL       = specFacets + "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
	engineFacetURL        = specFacets + "1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet"
	errorFacetURL         = specFacets + "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
	tagsJobFacetURL       = specFacets + "1-0-0/TagsJobFacet.json#/$defs/TagsJobFacet"
	tagsDatasetFacetURL   = specFacets + "1-0-0/TagsDatasetFacet.json#/$defs/TagsDatasetFacet"
	assertionsFacetURL    = specFacets + "1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet"
	parentFacetURL        = specFacets + "1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
	outputStatsFacetURL   = specFacets + "1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"
	dbtCloudRunFacetURL   = events.SchemaBase + DbtCloudRunSchemaFile + "#/$defs/DbtCloudRunRunFacet"
	DbtCloudRunSchemaFile = "dbt.harvester.openlineage.facets.v1.json"
)

// RunEvent is an OpenLineage RunEvent.
type RunEvent struct {
	EventType string          `json:"eventType"`
	EventTime string          `json:"eventTime"` // RFC 3339 with milliseconds, UTC
	Run       Run             `json:"run"`
	Job       Job             `json:"job"`
	Inputs    []InputDataset  `json:"inputs"`
	Outputs   []OutputDataset `json:"outputs"`
	Producer  string          `json:"producer"`
	SchemaURL string          `json:"schemaURL"`
}

// Run is a RunEvent's run.
type Run struct {
	RunID  string    `json:"runId"`
	Facets RunFacets `json:"facets"`
}

// Job is a RunEvent's job.
type Job struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Facets    JobFacets `json:"facets"`
}

// Dataset is a dataset named by the OpenLineage naming conventions.
type Dataset struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Facets    *DatasetFacets `json:"facets,omitempty"`
}

// InputDataset is a dataset a run read.
type InputDataset struct {
	Dataset
	InputFacets *InputFacets `json:"inputFacets,omitempty"`
}

// OutputDataset is a dataset a run wrote.
type OutputDataset struct {
	Dataset
	OutputFacets *OutputFacets `json:"outputFacets,omitempty"`
}

// Base is the _producer and _schemaURL every facet carries.
type Base struct {
	Producer  string `json:"_producer"`
	SchemaURL string `json:"_schemaURL"`
}

func base(url string) Base { return Base{Producer: Producer, SchemaURL: url} }

// RunFacets are the run facets the harvester emits.
type RunFacets struct {
	Parent           *ParentFacet           `json:"parent,omitempty"`
	ProcessingEngine *ProcessingEngineFacet `json:"processing_engine,omitempty"`
	ErrorMessage     *ErrorMessageFacet     `json:"errorMessage,omitempty"`
	DbtCloudRun      *DbtCloudRunFacet      `json:"dbtCloudRun,omitempty"`
}

// JobFacets are the job facets the harvester emits.
type JobFacets struct {
	JobType       *JobTypeFacet       `json:"jobType,omitempty"`
	SQL           *SQLFacet           `json:"sql,omitempty"`
	Documentation *DocumentationFacet `json:"documentation,omitempty"`
	Ownership     *OwnershipFacet     `json:"ownership,omitempty"`
	Tags          *TagsFacet          `json:"tags,omitempty"`
}

// DatasetFacets are the dataset facets the harvester emits.
type DatasetFacets struct {
	Schema        *SchemaFacet        `json:"schema,omitempty"`
	DataSource    *DataSourceFacet    `json:"dataSource,omitempty"`
	Documentation *DocumentationFacet `json:"documentation,omitempty"`
	Ownership     *OwnershipFacet     `json:"ownership,omitempty"`
	Tags          *TagsFacet          `json:"tags,omitempty"`
}

// InputFacets are the input dataset facets the harvester emits.
type InputFacets struct {
	DataQualityAssertions *AssertionsFacet `json:"dataQualityAssertions,omitempty"`
}

// OutputFacets are the output dataset facets the harvester emits.
type OutputFacets struct {
	OutputStatistics *OutputStatisticsFacet `json:"outputStatistics,omitempty"`
}

// ParentFacet points a node's run at the dbt Cloud run (parent and root).
type ParentFacet struct {
	Base
	Run  RunRef  `json:"run"`
	Job  JobRef  `json:"job"`
	Root *Parent `json:"root,omitempty"`
}

// Parent is the root of a ParentFacet.
type Parent struct {
	Run RunRef `json:"run"`
	Job JobRef `json:"job"`
}

// RunRef names a run.
type RunRef struct {
	RunID string `json:"runId"`
}

// JobRef names a job.
type JobRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// ProcessingEngineFacet names dbt and its version.
type ProcessingEngineFacet struct {
	Base
	Version string `json:"version"`
	Name    string `json:"name"`
}

// ErrorMessageFacet is a failed run's message.
type ErrorMessageFacet struct {
	Base
	Message             string `json:"message"`
	ProgrammingLanguage string `json:"programmingLanguage"`
}

// DbtCloudRunFacet carries the dbt Cloud run facts (a custom facet; its
// schema is schemas/dbt.harvester.openlineage.facets.v1.json).
type DbtCloudRunFacet struct {
	Base
	Run        events.RunFacts `json:"run"`
	Generation int             `json:"generation"`
}

// JobTypeFacet says this is a dbt batch job.
type JobTypeFacet struct {
	Base
	ProcessingType string `json:"processingType"`
	Integration    string `json:"integration"`
	JobType        string `json:"jobType,omitempty"`
}

// SQLFacet is a node's compiled code.
type SQLFacet struct {
	Base
	Query   string `json:"query"`
	Dialect string `json:"dialect,omitempty"`
}

// DocumentationFacet is a description (of a job or a dataset).
type DocumentationFacet struct {
	Base
	Description string `json:"description"`
	ContentType string `json:"contentType,omitempty"`
}

// OwnershipFacet lists owners (of a job or a dataset).
type OwnershipFacet struct {
	Base
	Owners []Owner `json:"owners"`
}

// Owner is one owner.
type Owner struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// TagsFacet lists tags (of a job or a dataset).
type TagsFacet struct {
	Base
	Tags []Tag `json:"tags"`
}

// Tag is one tag; Field names the column of a dataset tag on a column.
type Tag struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source,omitempty"`
	Field  string `json:"field,omitempty"`
}

// SchemaFacet lists a dataset's columns.
type SchemaFacet struct {
	Base
	Fields []Field `json:"fields"`
}

// Field is one column.
type Field struct {
	Name            string `json:"name"`
	Type            string `json:"type,omitempty"`
	Description     string `json:"description,omitempty"`
	OrdinalPosition int    `json:"ordinal_position,omitempty"`
}

// DataSourceFacet names the warehouse.
type DataSourceFacet struct {
	Base
	Name string `json:"name"`
	URI  string `json:"uri,omitempty"`
}

// AssertionsFacet holds test results on a dataset and its columns.
type AssertionsFacet struct {
	Base
	Assertions []Assertion `json:"assertions"`
}

// Assertion is one test's result.
type Assertion struct {
	Assertion string `json:"assertion"`
	Success   bool   `json:"success"`
	Column    string `json:"column,omitempty"`
	Severity  string `json:"severity,omitempty"`
	Name      string `json:"name,omitempty"`
}

// OutputStatisticsFacet is the rows a node wrote, as the adapter reported.
type OutputStatisticsFacet struct {
	Base
	RowCount int64 `json:"rowCount"`
}
