package events

import (
	"fmt"
	"time"
)

// OpenLineage: every harvest is also published as OpenLineage run events, one
// CloudEvent per OpenLineage RunEvent, for lineage backends (Marquez,
// DataHub, OpenMetadata, ...).
const (
	// StreamOpenLineage holds the OpenLineage run events: dbt.openlineage.>.
	StreamOpenLineage = "DBT_OPENLINEAGE"
	// OpenLineageSubjects is the subject filter of StreamOpenLineage.
	OpenLineageSubjects = "dbt.openlineage.>"
	// TypeOpenLineageRun is the CloudEvent type of a message whose data is one
	// OpenLineage RunEvent.
	TypeOpenLineageRun = "dbt.harvester.openlineage.run"
	// OpenLineageRunEventSchema is the dataschema of TypeOpenLineageRun: the
	// OpenLineage spec's RunEvent schema (spec version 2-0-2).
	OpenLineageRunEventSchema = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
)

// OpenLineageSubject is dbt.openlineage.<account>.<project>.<environment>.<job>.
func OpenLineageSubject(r RunRef) string {
	return fmt.Sprintf("dbt.openlineage.%d.%d.%d.%d", r.AccountID, r.ProjectID, r.EnvironmentID, r.JobID)
}

// OpenLineageID is the event ID (and Nats-Msg-Id) of one OpenLineage run
// event of a harvest: <account>/<run>/g<generation>/openlineage/<node>/<eventType>,
// where node is the dbt unique_id, or "run" for the dbt Cloud run itself.
func OpenLineageID(r RunRef, generation int, node, eventType string) string {
	return fmt.Sprintf("%d/%d/g%d/openlineage/%s/%s", r.AccountID, r.RunID, generation, node, eventType)
}

// NewOpenLineageRun is the message of one OpenLineage RunEvent of harvest
// generation generation of run r: runEvent is the RunEvent's JSON object
// (kept without a copy), about node (a dbt unique_id, or "run" for the dbt
// Cloud run) in state eventType, of the job jobName (the CloudEvent subject),
// at the RunEvent's eventTime. ID [OpenLineageID], subject
// [OpenLineageSubject], dataschema [OpenLineageRunEventSchema].
func NewOpenLineageRun(r RunRef, generation int, node, eventType, jobName string, at time.Time, runEvent []byte, trace Trace) (Message, error) {
	ev, err := newEvent(TypeOpenLineageRun, OpenLineageID(r, generation, node, eventType), r, jobName, at, runEvent)
	if err != nil {
		return Message{}, err
	}
	SetTrace(&ev, trace)
	return Message{Subject: OpenLineageSubject(r), Event: ev}, nil
}
