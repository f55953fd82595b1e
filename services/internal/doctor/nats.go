package doctor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
)

// DefaultNATSURL is where `harvester serve` listens for NATS clients.
const DefaultNATSURL = "nats://127.0.0.1:4222"

const topologyFix = "start `harvester serve` (or the receiver, fetcher or normalizer) once against this NATS: each creates or updates the streams, buckets and consumers at start"

// checkNATS connects to the pipeline's NATS and compares what is there with
// what topology.Ensure creates.
func checkNATS(ctx context.Context, opts Options) []Check {
	r := &report{}
	nopts := opts.NATS
	if nopts.URL == "" {
		nopts.URL = DefaultNATSURL // never embed a server here
	}
	nopts.Name = "harvester-doctor"
	cctx, cancel := context.WithTimeout(ctx, opts.NATSTimeout)
	conn, closeNATS, err := natsconn.Connect(cctx, nopts)
	cancel()
	if err != nil {
		r.fail("nats", err.Error(), "start `harvester serve` (it serves NATS on 127.0.0.1:4222), or set NATS_URL (and NATS_USER and NATS_PASSWORD, NATS_CREDS, NATS_CA … if needed) to the pipeline's NATS")
		return r.checks
	}
	defer closeNATS()
	r.pass("nats", "connected to "+conn.NC.ConnectedAddr())
	js, err := jetstream.New(conn.NC)
	if err == nil {
		_, err = js.AccountInfo(ctx)
	}
	if err != nil {
		r.fail("jetstream", err.Error(), "enable JetStream on the NATS server (see deploy/nats/) and give this user access to it")
		return r.checks
	}
	r.pass("jetstream", "enabled")
	topo := opts.Topology.Defaults()
	for _, want := range topo.Streams() {
		checkStream(ctx, r, js, want)
	}
	checkBuckets(ctx, r, js)
	consumers := topo.Consumers()
	for _, stream := range slices.Sorted(maps.Keys(consumers)) {
		checkConsumer(ctx, r, js, stream, consumers[stream])
	}
	return r.checks
}

// checkStream compares a stream's settings with want.
func checkStream(ctx context.Context, r *report, js jetstream.JetStream, want jetstream.StreamConfig) {
	check := "stream " + want.Name
	s, err := js.Stream(ctx, want.Name)
	if err != nil {
		r.fail(check, missing(err, "stream"), topologyFix)
		return
	}
	info, err := s.Info(ctx)
	if err != nil {
		r.fail(check, err.Error(), topologyFix)
		return
	}
	got := info.Config
	var diffs []string
	diff := func(field string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			diffs = append(diffs, fmt.Sprintf("%s is %v, want %v", field, g, w))
		}
	}
	diff("subjects", got.Subjects, want.Subjects)
	diff("retention", got.Retention, want.Retention)
	diff("storage", got.Storage, want.Storage)
	diff("replicas", got.Replicas, want.Replicas)
	diff("max age", got.MaxAge, want.MaxAge)
	diff("max bytes", got.MaxBytes, want.MaxBytes)
	diff("duplicate window", got.Duplicates, want.Duplicates)
	diff("discard", got.Discard, want.Discard)
	diff("max message size", got.MaxMsgSize, want.MaxMsgSize)
	if len(diffs) > 0 {
		r.warn(check, strings.Join(diffs, "; "), "restart `harvester serve` with the same HARVESTER_* settings (it updates the streams), or `nats stream edit "+want.Name+"`")
		return
	}
	r.pass(check, fmt.Sprintf("as expected (%d messages, %s retention, %d replica(s))", info.State.Msgs, got.Retention, got.Replicas))
}

// checkBuckets checks that the object store and KV buckets exist.
func checkBuckets(ctx context.Context, r *report, js jetstream.JetStream) {
	if store, err := js.ObjectStore(ctx, events.BucketArtifacts); err != nil {
		r.fail("object store "+events.BucketArtifacts, missing(err, "object store"), topologyFix)
	} else if st, err := store.Status(ctx); err != nil {
		r.fail("object store "+events.BucketArtifacts, err.Error(), topologyFix)
	} else {
		r.pass("object store "+events.BucketArtifacts, fmt.Sprintf("present (%d bytes)", st.Size()))
	}
	for _, b := range []string{events.BucketAssets, ledger.Bucket} {
		kv, err := js.KeyValue(ctx, b)
		if err != nil {
			r.fail("kv "+b, missing(err, "KV bucket"), topologyFix)
			continue
		}
		st, err := kv.Status(ctx)
		if err != nil {
			r.fail("kv "+b, err.Error(), topologyFix)
			continue
		}
		r.pass("kv "+b, fmt.Sprintf("present (%d values)", st.Values()))
	}
}

// checkConsumer compares a durable consumer's settings with want and shows
// its backlog.
func checkConsumer(ctx context.Context, r *report, js jetstream.JetStream, stream string, want jetstream.ConsumerConfig) {
	check := "consumer " + want.Durable
	c, err := js.Consumer(ctx, stream, want.Durable)
	if err != nil {
		r.fail(check, missing(err, "consumer on "+stream), topologyFix)
		return
	}
	info, err := c.Info(ctx)
	if err != nil {
		r.fail(check, err.Error(), topologyFix)
		return
	}
	got := info.Config
	var diffs []string
	if got.FilterSubject != want.FilterSubject {
		diffs = append(diffs, fmt.Sprintf("filter is %q, want %q", got.FilterSubject, want.FilterSubject))
	}
	if got.AckPolicy != want.AckPolicy {
		diffs = append(diffs, fmt.Sprintf("ack policy is %s, want %s", got.AckPolicy, want.AckPolicy))
	}
	if got.MaxDeliver != want.MaxDeliver {
		diffs = append(diffs, fmt.Sprintf("max deliver is %d, want %d", got.MaxDeliver, want.MaxDeliver))
	}
	if got.AckWait != want.AckWait {
		diffs = append(diffs, fmt.Sprintf("ack wait is %s, want %s", got.AckWait, want.AckWait))
	}
	if len(diffs) > 0 {
		r.warn(check, strings.Join(diffs, "; "), topologyFix)
		return
	}
	r.pass(check, fmt.Sprintf("on %s as expected (%d pending, %d in flight)", stream, info.NumPending, info.NumAckPending))
}

func missing(err error, what string) string {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) {
		return what + " missing"
	}
	return err.Error()
}
