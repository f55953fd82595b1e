package events

import (
	"fmt"
	"strings"
)

// Stream and bucket names of the contract.
const (
	StreamRuns      = "DBT_RUNS"      // webhooks as received: dbt.run.>
	StreamArtifacts = "DBT_ARTIFACTS" // artifacts-fetched events: dbt.artifacts.>
	StreamMetadata  = "DBT_METADATA"  // harvested metadata: dbt.metadata.>

	BucketArtifacts = "DBT_ARTIFACTS" // object store: <account>/<run>/<step>/<file>
	BucketAssets    = "DBT_ASSETS"    // KV: latest state of every asset
)

// Subject filters.
const (
	RunSubjects          = "dbt.run.>"
	RunCompletedSubjects = "dbt.run.*.*.*.*.completed"
	ArtifactsSubjects    = "dbt.artifacts.>"
	MetadataSubjects     = "dbt.metadata.>"
)

// Run kinds: the last token of a run subject, and the suffix of dbt's eventType.
const (
	RunStarted   = "started"
	RunCompleted = "completed"
	RunErrored   = "errored"
)

// RunSubject is dbt.run.<account>.<project>.<environment>.<job>.<kind>.
func RunSubject(r RunRef, kind string) string {
	return fmt.Sprintf("dbt.run.%d.%d.%d.%d.%s", r.AccountID, r.ProjectID, r.EnvironmentID, r.JobID, kind)
}

// ArtifactsSubject is dbt.artifacts.<account>.<project>.<environment>.<job>.
func ArtifactsSubject(r RunRef) string {
	return fmt.Sprintf("dbt.artifacts.%d.%d.%d.%d", r.AccountID, r.ProjectID, r.EnvironmentID, r.JobID)
}

// AssetSubject is dbt.metadata.<account>.<project>.<environment>.asset.<resource_type>.
func AssetSubject(r RunRef, resourceType string) string {
	return fmt.Sprintf("dbt.metadata.%d.%d.%d.asset.%s", r.AccountID, r.ProjectID, r.EnvironmentID, subjectToken(resourceType))
}

// HarvestSubject is dbt.metadata.<account>.<project>.<environment>.harvest.
func HarvestSubject(r RunRef) string {
	return fmt.Sprintf("dbt.metadata.%d.%d.%d.harvest", r.AccountID, r.ProjectID, r.EnvironmentID)
}

// ObjectKey is the object store key of an artifact: <account>/<run>/<step>/<file>.
func ObjectKey(account, run int64, step int, file string) string {
	return fmt.Sprintf("%d/%d/%d/%s", account, run, step, file)
}

// subjectToken makes s safe as one subject token: no dots, spaces or wildcards.
func subjectToken(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', ' ', '*', '>', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}
