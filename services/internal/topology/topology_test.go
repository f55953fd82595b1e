package topology

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
)

func TestEnsureIsIdempotentAndUpdates(t *testing.T) {
	ctx := t.Context()
	_, js := natstest.Run(t)
	if err := Ensure(ctx, js, Config{}); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	// A second start with new limits updates in place.
	if err := Ensure(ctx, js, Config{MetadataMaxAge: 72 * time.Hour, OpenLineageMaxAge: 48 * time.Hour, OpenLineageHTTP: true}); err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	tests := []struct {
		stream  string
		subject string
		maxAge  time.Duration
		dupes   time.Duration
	}{
		{events.StreamRuns, events.RunSubjects, 0, 24 * time.Hour},
		{events.StreamArtifacts, events.ArtifactsSubjects, 0, time.Hour},
		{events.StreamMetadata, events.MetadataSubjects, 72 * time.Hour, time.Hour},
		{events.StreamOpenLineage, events.OpenLineageSubjects, 48 * time.Hour, time.Hour},
	}
	for _, tt := range tests {
		s, err := js.Stream(ctx, tt.stream)
		if err != nil {
			t.Fatalf("Stream(%s): %v", tt.stream, err)
		}
		cfg := s.CachedInfo().Config
		if cfg.Retention != jetstream.LimitsPolicy || cfg.Subjects[0] != tt.subject || cfg.MaxAge != tt.maxAge || cfg.Duplicates != tt.dupes {
			t.Errorf("%s: retention %v subjects %v max age %v duplicates %v; want limits, %s, %v, %v",
				tt.stream, cfg.Retention, cfg.Subjects, cfg.MaxAge, cfg.Duplicates, tt.subject, tt.maxAge, tt.dupes)
		}
	}
	consumers := (Config{OpenLineageHTTP: true}).Consumers()
	if ol := consumers[events.StreamOpenLineage]; ol.Durable != DurableOpenLineageHTTP || ol.MaxAckPending != 1 || ol.MaxDeliver != -1 {
		t.Errorf("OpenLineage HTTP consumer = %+v, want %s with MaxAckPending 1 and unlimited deliveries", ol, DurableOpenLineageHTTP)
	}
	if _, ok := (Config{}).Consumers()[events.StreamOpenLineage]; ok {
		t.Error("the OpenLineage HTTP consumer exists without the transport")
	}
	for stream, want := range consumers {
		c, err := js.Consumer(ctx, stream, want.Durable)
		if err != nil {
			t.Fatalf("Consumer(%s, %s): %v", stream, want.Durable, err)
		}
		got := c.CachedInfo().Config
		if got.AckPolicy != jetstream.AckExplicitPolicy || got.MaxDeliver != want.MaxDeliver || got.AckWait != want.AckWait || got.FilterSubject != want.FilterSubject {
			t.Errorf("consumer %s: %+v", want.Durable, got)
		}
	}
	for _, b := range []string{events.BucketAssets, ledger.Bucket} {
		if _, err := js.KeyValue(ctx, b); err != nil {
			t.Errorf("KeyValue(%s): %v", b, err)
		}
	}
	if _, err := js.ObjectStore(ctx, events.BucketArtifacts); err != nil {
		t.Errorf("ObjectStore(%s): %v", events.BucketArtifacts, err)
	}
}
