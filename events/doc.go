// Package events is the harvester's public wire contract: the JetStream
// streams and subjects, the CloudEvent types, the data of every event, and
// the deterministic message IDs that make at-least-once delivery effectively
// exactly-once.
//
// # Usage
//
// Producers build a [Message] with the constructor of its event type
// ([NewRunEvent], [NewArtifactsFetched], [NewAssetHarvested] or
// [NewAssetHarvestedJSON], [NewHarvestCompleted], [NewHarvestFailed]): it
// derives the CloudEvent type, the ID, the NATS subject and the dataschema
// from the data, so they cannot disagree. They encode its Event with [Encode]
// (CloudEvents 1.0, structured JSON mode, Content-Type [ContentType]) and
// publish it on its Subject with the Nats-Msg-Id header set to the event's
// ID. Consumers call [Decode] and then [DataAs] for the typed data.
// Subscribers that only read metadata subscribe to [MetadataSubjects] on
// stream [StreamMetadata].
//
// # Schemas
//
// Each event's dataschema attribute ([DataSchema]) is the URI of the JSON
// Schema that its data adheres to, as CloudEvents 1.0 defines it: the
// repository's schemas/data/<file>. The schema of the whole message,
// envelope and data ([MessageSchema]), is schemas/<file>, the payload that
// schemas/asyncapi.yaml names.
//
// # Delivery guarantees
//
// Every event's ID is deterministic: a webhook's ID is dbt Cloud's eventId
// (stable across dbt's retries); a downstream event's ID is derived from the
// account, the run, the stage, the asset and the harvest generation (see
// [ArtifactsID], [AssetID], [HarvestID]). A retry anywhere in the pipeline
// therefore republishes the same ID and is absorbed by JetStream's duplicate
// window, while a deliberate re-harvest uses a new generation and is not: a
// replay stores the run event again with the ID [ReplayID] (the eventId
// followed by /g<generation>) and the generation in the [ExtGeneration]
// extension, which [GenerationOf] reads, and every downstream ID of that
// harvest carries the generation.
// Streams keep history (limits retention), so a subscriber may replay.
//
// # IDs
//
// dbt Cloud IDs exceed 32 bits, and CloudEvents integers are 32-bit, so the
// extension attributes dbtaccount, dbtproject, dbtenvironment, dbtjob and
// dbtrun carry the decimal IDs as strings. In event data they are JSON numbers
// (int64).
package events
