package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Message is one event of the contract, ready to publish: the CloudEvent and
// the NATS subject it goes on. Its Nats-Msg-Id is the event's ID. Build one
// with the constructor of its type ([NewRunEvent], [NewArtifactsFetched],
// [NewAssetHarvested], [NewHarvestCompleted], [NewHarvestFailed]), which
// derives the type, the ID, the subject and the dataschema from the data, so
// that they always agree.
type Message struct {
	Subject string
	Event   event.Event
}

// NewRunEvent is the run event of a dbt Cloud webhook w, whose JSON body
// (the bytes dbt Cloud signed, which w was parsed from) is the event's data
// as it is. Its type is com.getdbt.cloud.<eventType>, its time at, its
// subject [RunSubject].
//
// Generation 1 (or less) is the webhook as received: the ID is dbt's
// eventId, stable across dbt's delivery retries. A higher generation asks
// the fetcher for a re-harvest (`harvester replay`): the ID is
// [ReplayID](eventId, generation) and the [ExtGeneration] extension carries
// the generation, which [GenerationOf] reads back.
func NewRunEvent(w RunWebhook, body []byte, at time.Time, generation int, trace Trace) (Message, error) {
	kind := RunKind(w.EventType)
	if kind == "" {
		return Message{}, fmt.Errorf("run event: %w: eventType %q", ErrUnroutable, truncate(w.EventType, 64))
	}
	id := w.EventID
	if generation > 1 {
		id = ReplayID(w.EventID, generation)
	}
	ref := w.Ref()
	ev, err := newEvent("com.getdbt.cloud."+w.EventType, id, ref, "", at, body)
	if err != nil {
		return Message{}, err
	}
	if generation > 1 {
		ev.SetExtension(ExtGeneration, strconv.Itoa(generation))
	}
	SetTrace(&ev, trace)
	return Message{Subject: RunSubject(ref, kind), Event: ev}, nil
}

// NewArtifactsFetched is the artifacts-fetched event of d: ID
// [ArtifactsID], subject [ArtifactsSubject], time d.FetchedAt.
func NewArtifactsFetched(d ArtifactsFetched, trace Trace) (Message, error) {
	ref := d.Run.RunRef
	return newMessage(TypeArtifactsFetched, ArtifactsID(ref, d.Generation), ArtifactsSubject(ref), ref, "", d.FetchedAt, d, trace)
}

// NewAssetHarvested is the asset event of a of harvest generation
// generation at time at: ID [AssetID], subject [AssetSubject], CloudEvent
// subject a.UniqueID. The normalizer, which encodes assets itself, uses
// [NewAssetHarvestedJSON].
func NewAssetHarvested(a Asset, generation int, at time.Time, trace Trace) (Message, error) {
	data, err := json.Marshal(a)
	if err != nil {
		return Message{}, fmt.Errorf("encode %s data: %w", TypeAssetHarvested, err)
	}
	return NewAssetHarvestedJSON(a.RunRef, generation, a.UniqueID, a.ResourceType, data, at, trace)
}

// NewAssetHarvestedJSON is [NewAssetHarvested] for an asset already
// encoded: data is the JSON object of an [Asset] of run ref whose unique_id
// and resource_type are uniqueID and resourceType. The event keeps data
// without copying or re-encoding it (this is the normalizer's hot loop), so
// data must not change afterwards.
func NewAssetHarvestedJSON(ref RunRef, generation int, uniqueID, resourceType string, data []byte, at time.Time, trace Trace) (Message, error) {
	ev, err := newEvent(TypeAssetHarvested, AssetID(ref, generation, uniqueID), ref, uniqueID, at, data)
	if err != nil {
		return Message{}, err
	}
	SetTrace(&ev, trace)
	return Message{Subject: AssetSubject(ref, resourceType), Event: ev}, nil
}

// NewHarvestCompleted is the event that closes a harvest with d: ID
// [HarvestID], subject [HarvestSubject], time d.CompletedAt.
func NewHarvestCompleted(d HarvestCompleted, trace Trace) (Message, error) {
	ref := d.Run.RunRef
	return newMessage(TypeHarvestCompleted, HarvestID(ref, d.Generation), HarvestSubject(ref), ref, "", d.CompletedAt, d, trace)
}

// NewHarvestFailed is the event that closes a harvest without metadata: ID
// [HarvestID] (the same as a completed harvest's, so a harvest closes once),
// subject [HarvestSubject], time d.FailedAt.
func NewHarvestFailed(d HarvestFailed, trace Trace) (Message, error) {
	ref := d.Run.RunRef
	return newMessage(TypeHarvestFailed, HarvestID(ref, d.Generation), HarvestSubject(ref), ref, "", d.FailedAt, d, trace)
}

// newMessage encodes data and builds the message.
func newMessage(typ, id, subject string, r RunRef, ceSubject string, at time.Time, data any, trace Trace) (Message, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return Message{}, fmt.Errorf("encode %s data: %w", typ, err)
	}
	ev, err := newEvent(typ, id, r, ceSubject, at, b)
	if err != nil {
		return Message{}, err
	}
	SetTrace(&ev, trace)
	return Message{Subject: subject, Event: ev}, nil
}

// newEvent builds a CloudEvent of type typ about run r with the given ID,
// CloudEvent subject (none when "") and data, the JSON object as encoded,
// kept without a copy. It sets the time, the dbt* extensions and the
// dataschema.
func newEvent(typ, id string, r RunRef, subject string, at time.Time, data []byte) (event.Event, error) {
	if d := bytes.TrimSpace(data); len(d) < 2 || d[0] != '{' || d[len(d)-1] != '}' {
		return event.Event{}, fmt.Errorf("build %s event %s: data is not a JSON object", typ, id)
	}
	ev := event.New(event.CloudEventsVersionV1)
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource(Source(r.AccountID))
	ev.SetTime(at.UTC())
	if subject != "" {
		ev.SetSubject(subject)
	}
	ev.SetDataSchema(DataSchema(typ))
	ev.SetExtension(ExtAccount, strconv.FormatInt(r.AccountID, 10))
	ev.SetExtension(ExtProject, strconv.FormatInt(r.ProjectID, 10))
	ev.SetExtension(ExtEnvironment, strconv.FormatInt(r.EnvironmentID, 10))
	ev.SetExtension(ExtJob, strconv.FormatInt(r.JobID, 10))
	ev.SetExtension(ExtRun, strconv.FormatInt(r.RunID, 10))
	ev.SetDataContentType(event.ApplicationJSON)
	ev.DataEncoded = data // JSON, inline: not data_base64
	if err := ev.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("validate %s event: %w", typ, err)
	}
	return ev, nil
}
