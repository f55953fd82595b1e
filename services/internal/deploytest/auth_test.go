package deploytest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

const (
	harvesterPassword = "5e3f0c2b9a7d41e8b6c0f1a2d3e4c5b6"
	readerPassword    = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
)

// authServer runs the embedded server as `harvester serve --nats-config
// deploy/nats/auth.conf` does, with the services' in-process connection as
// user harvester and the topology in place, and returns it.
func authServer(t *testing.T) *natsconn.Conn {
	t.Helper()
	t.Setenv("NATS_PASSWORD", harvesterPassword)
	t.Setenv("NATS_READER_PASSWORD", readerPassword)
	conn, closeFn, err := natsconn.Connect(t.Context(), natsconn.Options{
		Name: "auth-test", StoreDir: t.TempDir(), Listen: "127.0.0.1:-1",
		ServerConfig: filepath.Join(natsDir(t), "auth.conf"),
		User:         "harvester", Password: harvesterPassword,
	})
	if err != nil {
		t.Fatalf("natsconn.Connect(embedded, auth.conf): %v", err)
	}
	t.Cleanup(closeFn)
	js, err := jetstream.New(conn.NC)
	if err != nil {
		t.Fatal(err)
	}
	if err := topology.Ensure(t.Context(), js, topology.Config{}); err != nil {
		t.Fatalf("topology.Ensure as harvester: %v", err)
	}
	return conn
}

// dial connects a client over TCP and collects the asynchronous errors
// (permission violations) the server sends it.
func dial(t *testing.T, url string, opts ...nats.Option) (*nats.Conn, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var async []string
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		defer mu.Unlock()
		async = append(async, err.Error())
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("nats.Connect(%s): %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), async...)
	}
}

func TestAuthConfigUsers(t *testing.T) {
	conn := authServer(t)
	for _, tt := range []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"anonymous", nil, false},
		{"reader, wrong password", []nats.Option{nats.UserInfo("reader", "nope")}, false},
		{"reader", []nats.Option{nats.UserInfo("reader", readerPassword)}, true},
		{"harvester", []nats.Option{nats.UserInfo("harvester", harvesterPassword)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(conn.ClientURL(), append(tt.opts, nats.MaxReconnects(0))...)
			if err == nil {
				nc.Close()
			}
			if (err == nil) != tt.ok {
				t.Errorf("nats.Connect as %s: err = %v, want success %v", tt.name, err, tt.ok)
			}
		})
	}
}

// TestReaderCanConsumeMetadataAndReadAssets is the reader's whole job: a
// durable consumer on DBT_METADATA read and acked, live events, an ordered
// consumer, a key of KV DBT_ASSETS.
func TestReaderCanConsumeMetadataAndReadAssets(t *testing.T) {
	ctx := t.Context()
	conn := authServer(t)
	hjs, _ := jetstream.New(conn.NC)
	const subject = "dbt.metadata.1.100.200.asset.model"
	if _, err := hjs.Publish(ctx, subject, []byte(`{"asset":1}`)); err != nil {
		t.Fatalf("harvester publish on %s: %v", subject, err)
	}
	hkv, err := hjs.KeyValue(ctx, events.BucketAssets)
	if err != nil {
		t.Fatal(err)
	}
	const key = "1.100.200.model=2Ejaffle=2Eorders"
	if _, err := hkv.Put(ctx, key, []byte(`{"name":"orders"}`)); err != nil {
		t.Fatal(err)
	}

	nc, asyncErrs := dial(t, conn.ClientURL(), nats.UserInfo("reader", readerPassword))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	live := make(chan *nats.Msg, 1)
	sub, err := nc.ChanSubscribe("dbt.metadata.>", live)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamMetadata, jetstream.ConsumerConfig{
		Durable: "catalog", FilterSubject: "dbt.metadata.>", AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, MaxDeliver: 10,
	})
	if err != nil {
		t.Fatalf("reader CreateOrUpdateConsumer(DBT_METADATA): %v", err)
	}
	msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("reader Fetch: %v", err)
	}
	var got int
	for m := range msgs.Messages() {
		got++
		if m.Subject() != subject {
			t.Errorf("fetched subject %s, want %s", m.Subject(), subject)
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Errorf("reader ack: %v", err)
		}
	}
	if got != 1 || msgs.Error() != nil {
		t.Fatalf("reader fetched %d messages (err %v), want 1", got, msgs.Error())
	}
	if _, err := js.Consumer(ctx, events.StreamMetadata, "catalog"); err != nil {
		t.Errorf("reader consumer info: %v", err)
	}
	ordered, err := js.OrderedConsumer(ctx, events.StreamMetadata, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"dbt.metadata.>"}})
	if err != nil {
		t.Fatalf("reader OrderedConsumer: %v", err)
	}
	if m, err := ordered.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil || m.Subject() != subject {
		t.Errorf("reader ordered Next = %v, want the message on %s", err, subject)
	}

	if _, err := hjs.Publish(ctx, subject, []byte(`{"asset":2}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-live:
		if string(m.Data) != `{"asset":2}` {
			t.Errorf("live event = %s", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Error("reader's subscription to dbt.metadata.> got no live event")
	}

	kv, err := js.KeyValue(ctx, events.BucketAssets)
	if err != nil {
		t.Fatalf("reader KeyValue(DBT_ASSETS): %v", err)
	}
	entry, err := kv.Get(ctx, key)
	if err != nil || string(entry.Value()) != `{"name":"orders"}` {
		t.Fatalf("reader kv.Get(%s) = %v, want the stored value", key, err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil || len(keys) != 1 || keys[0] != key {
		t.Errorf("reader kv.Keys = %v, %v, want [%s]", keys, err, key)
	}
	if errs := asyncErrs(); len(errs) > 0 {
		t.Errorf("reader got permission errors doing its job: %v", errs)
	}
}

// TestReaderCannot tries what the reader must not do; each attempt must fail
// and leave the streams as they were.
func TestReaderCannot(t *testing.T) {
	ctx := t.Context()
	conn := authServer(t)
	hjs, _ := jetstream.New(conn.NC)
	if _, err := hjs.Publish(ctx, "dbt.metadata.1.100.200.harvest", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	nc, asyncErrs := dial(t, conn.ClientURL(), nats.UserInfo("reader", readerPassword))
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	attempts := []struct {
		name string
		try  func(context.Context) error
	}{
		{"publish a run event (core)", func(context.Context) error {
			if err := nc.Publish("dbt.run.1.100.200.300.400.completed", []byte(`{"forged":true}`)); err != nil {
				return err
			}
			return nc.Flush()
		}},
		{"publish a run event (JetStream)", func(ctx context.Context) error {
			_, err := js.Publish(ctx, "dbt.run.1.100.200.300.401.completed", []byte(`{"forged":true}`))
			return err
		}},
		{"publish on dbt.metadata", func(ctx context.Context) error {
			_, err := js.Publish(ctx, "dbt.metadata.1.100.200.harvest", []byte(`{"forged":true}`))
			return err
		}},
		{"delete stream DBT_RUNS", func(ctx context.Context) error { return js.DeleteStream(ctx, events.StreamRuns) }},
		{"delete stream DBT_METADATA", func(ctx context.Context) error { return js.DeleteStream(ctx, events.StreamMetadata) }},
		{"purge stream DBT_METADATA", func(ctx context.Context) error {
			s, err := js.Stream(ctx, events.StreamMetadata)
			if err != nil {
				return err
			}
			return s.Purge(ctx)
		}},
		{"purge stream DBT_RUNS", func(ctx context.Context) error {
			_, err := nc.Request("$JS.API.STREAM.PURGE."+events.StreamRuns, nil, 2*time.Second)
			return err
		}},
		{"create a stream", func(ctx context.Context) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"dbt.run.>"}})
			return err
		}},
		{"delete the fetcher's consumer", func(ctx context.Context) error {
			return js.DeleteConsumer(ctx, events.StreamRuns, topology.DurableFetcher)
		}},
		{"read DBT_RUNS", func(ctx context.Context) error {
			_, err := js.CreateOrUpdateConsumer(ctx, events.StreamRuns, jetstream.ConsumerConfig{Durable: "snoop"})
			return err
		}},
		{"write KV DBT_ASSETS", func(ctx context.Context) error {
			kv, err := js.KeyValue(ctx, events.BucketAssets)
			if err != nil {
				return err
			}
			_, err = kv.Put(ctx, "1.100.200.model=2Ex", []byte(`{}`))
			return err
		}},
	}
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			before := len(asyncErrs())
			err := a.try(actx)
			for deadline := time.Now().Add(2 * time.Second); err == nil && len(asyncErrs()) == before && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond) // a core publish is refused asynchronously
			}
			if err == nil && len(asyncErrs()) == before {
				t.Errorf("reader could %s", a.name)
			}
		})
	}
	// A push consumer delivers to the subject its config names, which
	// nats-server does not check against the creator's permissions: one aimed
	// at dbt.run.> (with a subscriber there to make it active) or at the
	// JetStream API must not land a message on DBT_RUNS nor purge a stream.
	runSub, err := conn.NC.SubscribeSync("dbt.run.>")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = runSub.Unsubscribe() }()
	for _, deliver := range []string{"dbt.run.1.100.200.300.402.completed", "$JS.API.STREAM.PURGE." + events.StreamMetadata} {
		if _, err := js.CreateOrUpdateConsumer(ctx, events.StreamMetadata, jetstream.ConsumerConfig{
			DeliverSubject: deliver, DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckNonePolicy,
		}); err != nil {
			t.Logf("push consumer delivering to %s: %v", deliver, err)
		}
	}
	time.Sleep(2 * time.Second)
	if n, _, _ := runSub.Pending(); n != 0 {
		t.Errorf("a push consumer of the reader delivered %d messages on dbt.run.>", n)
	}
	// The outcomes, read back as the harvester.
	for stream, want := range map[string]uint64{events.StreamRuns: 0, events.StreamMetadata: 1} {
		s, err := hjs.Stream(ctx, stream)
		if err != nil {
			t.Fatalf("stream %s after the attempts: %v", stream, err)
		}
		if n := s.CachedInfo().State.Msgs; n != want {
			t.Errorf("stream %s holds %d messages after the reader's attempts, want %d", stream, n, want)
		}
	}
	if _, err := hjs.Consumer(ctx, events.StreamRuns, topology.DurableFetcher); err != nil {
		t.Errorf("fetcher consumer after the reader's attempts: %v", err)
	}
	if _, err := hjs.Stream(ctx, "EVIL"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("stream EVIL: err = %v, want not found", err)
	}
	if errs := asyncErrs(); !strings.Contains(strings.Join(errs, "\n"), "Permissions Violation") {
		t.Errorf("reader's async errors = %v, want permission violations", errs)
	}
}

// TestAuthConfigIncludes: an external server takes the users with `include
// auth.conf` in single.conf, as deploy/README.md says.
func TestAuthConfigIncludes(t *testing.T) {
	t.Setenv("NATS_PASSWORD", harvesterPassword)
	t.Setenv("NATS_READER_PASSWORD", readerPassword)
	dir := t.TempDir()
	for _, f := range []string{"single.conf", "auth.conf"} {
		b, err := os.ReadFile(filepath.Join(natsDir(t), f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "single.conf" {
			b = append(b, "\ninclude auth.conf\n"...)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "single.conf"))
	if err != nil {
		t.Fatalf("single.conf with include auth.conf: %v", err)
	}
	names := map[string]bool{}
	for _, u := range opts.Users {
		names[u.Username] = true
	}
	if !opts.JetStream || !names["harvester"] || !names["reader"] || len(opts.Users) != 2 {
		t.Errorf("JetStream %v, users %v: want JetStream and the users harvester and reader", opts.JetStream, names)
	}
}
