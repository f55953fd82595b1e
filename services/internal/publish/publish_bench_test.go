package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/services/internal/natsconn"
)

// BenchmarkBatch publishes the same messages (benchMsgs of 2 KB, each on
// its own subject, as asset events and KV puts are) in turn per iteration
// through each way of publishing, to one embedded server with fsync on and
// off, and reports each way's msgs/s and its ratio to raw async publishing
// (nats.go's own window of 4000 and PublishAsyncComplete). Running them in
// turn in one process lets a machine's drift fall on all of them alike.
func BenchmarkBatch(b *testing.B) {
	const benchMsgs = 10000
	ways := []struct {
		name string
		pub  func(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) error
	}{
		{"raw", rawAsync},
		{"stopwait-256", func(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) error {
			return stopAndWait(ctx, js, msgs, 256)
		}},
		{"sliding-256", batchOf(256)},
		{"sliding-1024", batchOf(1024)},
		{"sliding-2048", batchOf(2048)},
		{"atomic-1000x4", atomicOf(1000, 4)},
		{"atomic-250x8", atomicOf(250, 8)},
		{"atomic-1000x16", atomicOf(1000, 16)},
	}
	for _, fast := range []bool{false, true} {
		name := "fsync=always"
		if fast {
			name = "fsync=off"
		}
		b.Run(name, func(b *testing.B) {
			conn, closeFn, err := natsconn.Connect(b.Context(), natsconn.Options{Name: "bench", StoreDir: b.TempDir(),
				Listen: "127.0.0.1:-1", FastSync: fast})
			if err != nil {
				b.Fatal(err)
			}
			defer closeFn()
			js, err := jetstream.New(conn.NC)
			if err != nil {
				b.Fatal(err)
			}
			elapsed := make([]time.Duration, len(ways))
			run := 0
			for b.Loop() {
				for i, w := range ways {
					run++
					stream := fmt.Sprintf("B%d", run)
					if _, err := js.CreateStream(b.Context(), jetstream.StreamConfig{Name: stream,
						Subjects: []string{stream + ".>"}, Storage: jetstream.FileStorage, Duplicates: time.Minute, AllowAtomicPublish: true}); err != nil {
						b.Fatal(err)
					}
					msgs := make([]*nats.Msg, benchMsgs)
					for j := range msgs {
						msgs[j] = &nats.Msg{Subject: fmt.Sprintf("%s.asset.%d", stream, j), Header: nats.Header{},
							Data: []byte(strings.Repeat("x", 2048))}
						msgs[j].Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s/%d", stream, j))
					}
					start := time.Now()
					if err := w.pub(b.Context(), js, msgs); err != nil {
						b.Fatal(err)
					}
					elapsed[i] += time.Since(start)
					if err := js.DeleteStream(b.Context(), stream); err != nil {
						b.Fatal(err)
					}
				}
			}
			for i, w := range ways {
				b.ReportMetric(float64(benchMsgs*b.N)/elapsed[i].Seconds(), w.name+"-msgs/s")
				if i > 0 {
					b.ReportMetric(elapsed[0].Seconds()/elapsed[i].Seconds(), w.name+"-ratio")
				}
			}
		})
	}
}

func rawAsync(_ context.Context, js jetstream.JetStream, msgs []*nats.Msg) error {
	for _, m := range msgs {
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(time.Minute):
		return errors.New("raw publishes not acknowledged in a minute")
	}
}

// stopAndWait is the Batch before the sliding window: a full window waits
// for every publish in it.
func stopAndWait(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg, window int) error {
	b := NewBatch(js, len(msgs))
	for i, m := range msgs {
		if err := b.AddMsg(ctx, m); err != nil {
			return err
		}
		if (i+1)%window == 0 {
			if err := b.Wait(ctx); err != nil {
				return err
			}
		}
	}
	return b.Wait(ctx)
}

func batchOf(window int) func(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) error {
	return func(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) error {
		b := NewBatch(js, window)
		for _, m := range msgs {
			if err := b.AddMsg(ctx, m); err != nil {
				return err
			}
		}
		return b.Wait(ctx)
	}
}

func atomicOf(group, window int) func(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) error {
	return func(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) error {
		b := NewAtomicBatch(js, group, window)
		for _, m := range msgs {
			if err := b.AddMsg(ctx, m); err != nil {
				return err
			}
		}
		if err := b.Wait(ctx); err != nil {
			return err
		}
		if b.Stored() != len(msgs) {
			return fmt.Errorf("stored %d of %d", b.Stored(), len(msgs))
		}
		return nil
	}
}
