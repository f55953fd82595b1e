package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/event"
)

// ContentType is the Content-Type header of every message: CloudEvents 1.0 in
// structured JSON mode.
const ContentType = "application/cloudevents+json"

// SchemaBase prefixes every schema URI; the rest of the URI is the schema's
// path in the repository's schemas/ folder, which is also its $id.
const SchemaBase = "https://dbt-harvester.dev/schemas/"

// Extension attribute names (CloudEvents extensions are lowercase alphanumerics).
const (
	ExtAccount     = "dbtaccount"
	ExtProject     = "dbtproject"
	ExtEnvironment = "dbtenvironment"
	ExtJob         = "dbtjob"
	ExtRun         = "dbtrun"
	// ExtGeneration is carried by a run event that asks for a re-harvest
	// (`harvester replay`, see [NewRunEvent]): the harvest generation, a
	// decimal string above 1. Absent means generation 1.
	ExtGeneration = "harvestgeneration"
)

// SchemaFile is the file name of the version 1 schemas of an event type: the
// schema of its data in schemas/data/ and the schema of the whole message in
// schemas/. Run webhooks of every kind share one file name.
func SchemaFile(eventType string) string {
	switch eventType {
	case TypeRunStarted, TypeRunCompleted, TypeRunErrored:
		return "com.getdbt.cloud.job.run.v1.json"
	}
	return eventType + ".v1.json"
}

// DataSchema is the dataschema attribute of an event of type eventType: the
// URI (and $id) of the JSON Schema whose instance is the event's data,
// schemas/data/<SchemaFile> in the repository, as CloudEvents 1.0 defines
// dataschema (for an OpenLineage run event, the OpenLineage spec's RunEvent
// schema).
func DataSchema(eventType string) string {
	if eventType == TypeOpenLineageRun { // data is an OpenLineage RunEvent
		return OpenLineageRunEventSchema
	}
	return SchemaBase + "data/" + SchemaFile(eventType)
}

// MessageSchema is the URI (and $id) of the JSON Schema of a whole
// structured-mode event of type eventType, envelope and data:
// schemas/<SchemaFile> in the repository, the payload schema that
// asyncapi.yaml names. Its data member refers to [DataSchema].
func MessageSchema(eventType string) string {
	return SchemaBase + SchemaFile(eventType)
}

// Source is the CloudEvent source of events about runs in account.
func Source(account int64) string {
	return "dbt-cloud/accounts/" + strconv.FormatInt(account, 10)
}

// ArtifactsID is the event ID (and Nats-Msg-Id) of a run's artifacts-fetched event.
func ArtifactsID(r RunRef, generation int) string {
	return fmt.Sprintf("%d/%d/g%d/artifacts", r.AccountID, r.RunID, generation)
}

// AssetID is the event ID (and Nats-Msg-Id) of one asset event of a harvest.
func AssetID(r RunRef, generation int, uniqueID string) string {
	return fmt.Sprintf("%d/%d/g%d/asset/%s", r.AccountID, r.RunID, generation, uniqueID)
}

// HarvestID is the event ID (and Nats-Msg-Id) of the event that closes a
// harvest, completed or failed: one ID, so a run's harvest closes once.
func HarvestID(r RunRef, generation int) string {
	return fmt.Sprintf("%d/%d/g%d/harvest", r.AccountID, r.RunID, generation)
}

// ReplayID is the event ID (and Nats-Msg-Id) of a run event stored again
// to re-harvest its run as generation generation: <eventId>/g<generation>,
// so that the duplicate window does not absorb it while a second replay of
// the same generation is absorbed.
func ReplayID(webhookEventID string, generation int) string {
	return fmt.Sprintf("%s/g%d", webhookEventID, generation)
}

// GenerationOf is the harvest generation a run event asks for: its
// ExtGeneration extension, or 1.
func GenerationOf(ev event.Event) int {
	if v, ok := ev.Extensions()[ExtGeneration]; ok {
		if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil && n > 0 {
			return n
		}
	}
	return 1
}

// StableAssetID is an asset's identity across runs: the same dbt node in the
// same environment always has the same ID, so downstream systems upsert.
func StableAssetID(account, project, environment int64, uniqueID string) string {
	return fmt.Sprintf("%d/%d/%d/%s", account, project, environment, uniqueID)
}

// Encode is the structured-mode JSON of ev, the payload of its NATS message.
// The data is written as it is, not re-encoded: an event from a constructor
// of [Message] or from [Decode] has JSON data.
func Encode(ev event.Event) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(ev.DataEncoded) + 1024) // the envelope is some 500 bytes
	if err := event.WriteJson(&ev, &b); err != nil {
		return nil, fmt.Errorf("encode %s event: %w", ev.Type(), err)
	}
	return b.Bytes(), nil
}

// Decode reads a structured-mode CloudEvent and validates it.
func Decode(b []byte) (event.Event, error) {
	var ev event.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return event.Event{}, fmt.Errorf("decode cloudevent: %w", err)
	}
	if err := ev.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("decode cloudevent: %w", err)
	}
	return ev, nil
}

// DataAs decodes ev's data into a value of type T.
func DataAs[T any](ev event.Event) (T, error) {
	var v T
	if err := json.Unmarshal(ev.Data(), &v); err != nil {
		return v, fmt.Errorf("decode %s data: %w", ev.Type(), err)
	}
	return v, nil
}

// RefOf reads the run context from ev's dbt* extension attributes.
func RefOf(ev event.Event) (RunRef, error) {
	var r RunRef
	for _, f := range []struct {
		name string
		dst  *int64
	}{
		{ExtAccount, &r.AccountID}, {ExtProject, &r.ProjectID}, {ExtEnvironment, &r.EnvironmentID},
		{ExtJob, &r.JobID}, {ExtRun, &r.RunID},
	} {
		v, ok := ev.Extensions()[f.name]
		if !ok {
			return RunRef{}, fmt.Errorf("event %s: missing extension %s", ev.ID(), f.name)
		}
		n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
		if err != nil {
			return RunRef{}, fmt.Errorf("event %s: extension %s: %w", ev.ID(), f.name, err)
		}
		*f.dst = n
	}
	return r, nil
}
