// Package events is the harvester's public wire contract: the JetStream
// streams and subjects, the CloudEvent types, the data of every event, and
// the deterministic message IDs that make at-least-once delivery effectively
// exactly-once.
//
// # Usage
//
// Producers build an event with [New] and encode it with [Encode] (CloudEvents
// 1.0, structured JSON mode, Content-Type [ContentType]); they publish it with
// the Nats-Msg-Id header set to the event's ID. Consumers call [Decode] and then
// [DataAs] for the typed data. Subscribers that only read metadata subscribe to
// [MetadataSubjects] on stream [StreamMetadata].
//
// # Delivery guarantees
//
// Every event's ID is deterministic: a webhook's ID is dbt Cloud's eventId
// (stable across dbt's retries); a downstream event's ID is derived from the
// account, the run, the stage, the asset and the harvest generation (see
// [ArtifactsID], [AssetID], [HarvestID]). A retry anywhere in the pipeline
// therefore republishes the same ID and is absorbed by JetStream's duplicate
// window, while a deliberate re-harvest uses a new generation and is not.
// Streams keep history (limits retention), so a subscriber may replay.
//
// # IDs
//
// dbt Cloud IDs exceed 32 bits, and CloudEvents integers are 32-bit, so the
// extension attributes dbtaccount, dbtproject, dbtenvironment, dbtjob and
// dbtrun carry the decimal IDs as strings. In event data they are JSON numbers
// (int64).
package events
