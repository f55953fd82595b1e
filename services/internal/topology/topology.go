// Package topology creates or updates everything the contract names on
// JetStream: the streams DBT_RUNS, DBT_ARTIFACTS, DBT_METADATA and
// DBT_OPENLINEAGE (limits retention, so history can be replayed), the object
// store DBT_ARTIFACTS, the KV buckets DBT_ASSETS and DBT_HARVESTS, and the
// durable pull consumers "fetcher" and "normalizer" with explicit ack,
// AckWait and MaxDeliver (and "openlineage-http" when the OpenLineage HTTP
// transport is on). Ensure is idempotent: every service calls it at start.
package topology

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
)

// Durable consumer names: the stages' shared pull consumers. Bookkeeping, not
// the public contract; each stage's binary is named after its consumer.
const (
	DurableFetcher    = "fetcher"    // on DBT_RUNS, completed runs only
	DurableNormalizer = "normalizer" // on DBT_ARTIFACTS
	// DurableOpenLineageHTTP posts DBT_OPENLINEAGE to a lineage backend, one
	// message at a time (MaxAckPending 1, so in order), never giving up on
	// a transient failure (MaxDeliver unlimited).
	DurableOpenLineageHTTP = "openlineage-http"
)

// Config holds the limits an operator may change. The zero value is usable.
type Config struct {
	Replicas int // 1 on one server; 3 on a cluster

	RunsMaxAge       time.Duration // DBT_RUNS history; 0 keeps everything
	ArtifactsMaxAge  time.Duration // DBT_ARTIFACTS stream and object store; 0 keeps everything
	MetadataMaxAge   time.Duration // DBT_METADATA history; 0 keeps everything
	MetadataMaxBytes int64         // DBT_METADATA size cap; 0 is unlimited

	// Duplicate windows: a republish of the same message ID inside the window
	// is absorbed. Webhooks get a day, since dbt Cloud retries for a while.
	RunsDuplicates, PipelineDuplicates time.Duration

	FetcherMaxDeliver, NormalizerMaxDeliver int
	FetcherAckWait, NormalizerAckWait       time.Duration

	OpenLineageMaxAge time.Duration // DBT_OPENLINEAGE history; 0 keeps everything
	// OpenLineageHTTP adds the durable consumer DurableOpenLineageHTTP
	// (HARVESTER_OPENLINEAGE_URL is set).
	OpenLineageHTTP bool
}

func (c *Config) setDefaults() {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.RunsDuplicates == 0 {
		c.RunsDuplicates = 24 * time.Hour
	}
	if c.PipelineDuplicates == 0 {
		c.PipelineDuplicates = time.Hour
	}
	if c.FetcherMaxDeliver == 0 {
		c.FetcherMaxDeliver = 20
	}
	if c.NormalizerMaxDeliver == 0 {
		c.NormalizerMaxDeliver = 8
	}
	if c.FetcherAckWait == 0 {
		c.FetcherAckWait = time.Minute
	}
	if c.NormalizerAckWait == 0 {
		c.NormalizerAckWait = time.Minute
	}
}

// Defaults returns c with every zero field set to its default.
func (c Config) Defaults() Config {
	c.setDefaults()
	return c
}

// Streams are the stream configurations of the contract under c.
func (c Config) Streams() []jetstream.StreamConfig {
	c.setDefaults()
	stream := func(name, subject, desc string, age, dup time.Duration, maxBytes int64) jetstream.StreamConfig {
		if maxBytes == 0 {
			maxBytes = -1
		}
		return jetstream.StreamConfig{
			Name: name, Description: desc, Subjects: []string{subject},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: c.Replicas, MaxAge: age, MaxBytes: maxBytes, Duplicates: dup,
			Discard: jetstream.DiscardOld, MaxMsgSize: 1 << 20,
		}
	}
	metadata := stream(events.StreamMetadata, events.MetadataSubjects, "harvested dbt metadata: assets and harvests", c.MetadataMaxAge, c.PipelineDuplicates, c.MetadataMaxBytes)
	metadata.AllowAtomicPublish = true // the normalizer's atomic batches: one fsync per batch, not per event
	openLineage := stream(events.StreamOpenLineage, events.OpenLineageSubjects, "every harvest as OpenLineage run events", c.OpenLineageMaxAge, c.PipelineDuplicates, 0)
	openLineage.AllowAtomicPublish = true // likewise
	return []jetstream.StreamConfig{
		stream(events.StreamRuns, events.RunSubjects, "dbt Cloud job run webhooks, as received", c.RunsMaxAge, c.RunsDuplicates, 0),
		stream(events.StreamArtifacts, events.ArtifactsSubjects, "artifacts fetched for a run", c.ArtifactsMaxAge, c.PipelineDuplicates, 0),
		metadata,
		openLineage,
	}
}

// Consumers are the durable consumer configurations, by stream.
func (c Config) Consumers() map[string]jetstream.ConsumerConfig {
	c.setDefaults()
	out := map[string]jetstream.ConsumerConfig{
		events.StreamRuns: {
			Durable: DurableFetcher, Description: "fetches the artifacts of completed runs",
			FilterSubject: events.RunCompletedSubjects, AckPolicy: jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy, AckWait: c.FetcherAckWait,
			MaxDeliver: c.FetcherMaxDeliver, MaxAckPending: 64, Replicas: c.Replicas,
		},
		events.StreamArtifacts: {
			Durable: DurableNormalizer, Description: "normalizes fetched artifacts into assets",
			FilterSubject: events.ArtifactsSubjects, AckPolicy: jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy, AckWait: c.NormalizerAckWait,
			MaxDeliver: c.NormalizerMaxDeliver, MaxAckPending: 16, Replicas: c.Replicas,
		},
	}
	if c.OpenLineageHTTP {
		out[events.StreamOpenLineage] = jetstream.ConsumerConfig{
			Durable: DurableOpenLineageHTTP, Description: "posts OpenLineage run events to the lineage backend, in order",
			FilterSubject: events.OpenLineageSubjects, AckPolicy: jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy, AckWait: time.Minute,
			MaxDeliver: -1, MaxAckPending: 1, Replicas: c.Replicas,
		}
	}
	return out
}

// Ensure creates or updates the streams, the object store, the KV bucket and
// the durable consumers.
func Ensure(ctx context.Context, js jetstream.JetStream, c Config) error {
	c.setDefaults()
	for _, sc := range c.Streams() {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("topology: ensure stream %s: %w", sc.Name, err)
		}
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: events.BucketArtifacts, Description: "dbt artifacts: <account>/<run>/<step>/<file>",
		Storage: jetstream.FileStorage, Replicas: c.Replicas, TTL: c.ArtifactsMaxAge, Compression: true,
	}); err != nil {
		return fmt.Errorf("topology: ensure object store %s: %w", events.BucketArtifacts, err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: events.BucketAssets, Description: "latest harvested state of every asset",
		Storage: jetstream.FileStorage, Replicas: c.Replicas, History: 1, Compression: true,
	}); err != nil {
		return fmt.Errorf("topology: ensure kv %s: %w", events.BucketAssets, err)
	}
	if err := allowAtomic(ctx, js, "KV_"+events.BucketAssets); err != nil {
		return err
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: ledger.Bucket, Description: "how each run's latest harvest ended: <account>.<run>",
		Storage: jetstream.FileStorage, Replicas: c.Replicas, History: 5,
	}); err != nil {
		return fmt.Errorf("topology: ensure kv %s: %w", ledger.Bucket, err)
	}
	for stream, cc := range c.Consumers() {
		if _, err := js.CreateOrUpdateConsumer(ctx, stream, cc); err != nil {
			return fmt.Errorf("topology: ensure consumer %s on %s: %w", cc.Durable, stream, err)
		}
	}
	return nil
}

// allowAtomic turns on atomic batch publishing on a stream that a KV
// bucket's configuration made (KeyValueConfig has no such field), for the
// normalizer's atomic batches of DBT_ASSETS puts. A server before 2.12 does
// not know the field and leaves it off; the normalizer then publishes one
// put at a time.
func allowAtomic(ctx context.Context, js jetstream.JetStream, name string) error {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("topology: stream %s: %w", name, err)
	}
	sc := s.CachedInfo().Config
	if sc.AllowAtomicPublish {
		return nil
	}
	sc.AllowAtomicPublish = true
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("topology: allow atomic publish on %s: %w", name, err)
	}
	return nil
}
