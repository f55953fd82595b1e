package publish

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
)

// testEvent is an asset event of asset uniqueID (its ID ends with it).
func testEvent(t *testing.T, uniqueID, description string) events.Message {
	t.Helper()
	r := events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 5}
	m, err := events.NewAssetHarvested(events.Asset{RunRef: r, UniqueID: uniqueID, ResourceType: "model",
		Description: description}, 1, time.Unix(0, 0), events.Trace{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testMsg is testEvent's message, as Msg makes it.
func testMsg(t *testing.T, uniqueID, description string) *nats.Msg {
	t.Helper()
	msg, err := Msg(testEvent(t, uniqueID, description))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestEventAndBatch(t *testing.T) {
	ctx := t.Context()
	_, js := natstest.Run(t)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Subjects: []string{"dbt.metadata.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	m := testEvent(t, "model.p.a", "v")
	ack, err := Event(ctx, js, m)
	if err != nil || ack.Duplicate {
		t.Fatalf("Event = %+v, %v; want stored", ack, err)
	}
	if ack, err = Event(ctx, js, m); err != nil || !ack.Duplicate {
		t.Fatalf("Event again = %+v, %v; want a duplicate", ack, err)
	}
	b := NewBatch(js, 3)
	for i := range 10 {
		if err := b.AddMsg(ctx, testMsg(t, fmt.Sprintf("model.p.b%d", i), "")); err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
	}
	if err := b.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if b.Stored() != 10 {
		t.Errorf("Stored = %d, want 10", b.Stored())
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 11 {
		t.Errorf("stream messages = %d, want 11", info.State.Msgs)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Content-Type") != events.ContentType || msg.Header.Get(jetstream.MsgIDHeader) != "1/5/g1/asset/model.p.a" {
		t.Errorf("headers = %v", msg.Header)
	}
}

func TestTooLarge(t *testing.T) {
	if _, err := Msg(testEvent(t, "model.p.big", strings.Repeat("x", MaxPayload))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Msg(1 MiB event) error = %v, want ErrTooLarge", err)
	}
}

// TestAtomicBatch publishes in atomic batches that do not divide the
// number of events, then the same events again (a redelivered harvest): the
// server refuses those batches as a whole for their stored Nats-Msg-Ids,
// and the batch publishes them one by one, so each event is stored once,
// in order, and no end-of-batch message is stored.
func TestAtomicBatch(t *testing.T) {
	ctx := t.Context()
	_, js := natstest.Run(t)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Subjects: []string{"dbt.metadata.>"},
		Duplicates: time.Minute, AllowAtomicPublish: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 25
	for round := range 2 {
		b := NewAtomicBatch(js, 7, 2)
		for i := range n {
			if err := b.AddMsg(ctx, testMsg(t, fmt.Sprintf("model.p.b%d", i), "")); err != nil {
				t.Fatalf("round %d: Add %d: %v", round, i, err)
			}
		}
		if err := b.Wait(ctx); err != nil {
			t.Fatalf("round %d: Wait: %v", round, err)
		}
		if b.Stored() != n {
			t.Errorf("round %d: Stored = %d, want %d", round, b.Stored(), n)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != n {
		t.Fatalf("stream messages = %d, want %d", info.State.Msgs, n)
	}
	for seq := uint64(1); seq <= n; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := msg.Header.Get(jetstream.MsgIDHeader), testEvent(t, fmt.Sprintf("model.p.b%d", seq-1), "").Event.ID(); got != want {
			t.Errorf("message %d: Nats-Msg-Id %q, want %q", seq, got, want)
		}
		if len(msg.Data) == 0 {
			t.Errorf("message %d is an empty end of batch: %v", seq, msg.Header)
		}
	}
}

// TestAtomicBatchRefused is an atomic batch on a stream that does not allow
// atomic publishing: every batch is refused and published one by one.
func TestAtomicBatchRefused(t *testing.T) {
	ctx := t.Context()
	_, js := natstest.Run(t)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Subjects: []string{"dbt.metadata.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	b := NewAtomicBatch(js, 4, 3)
	for i := range 10 {
		if err := b.AddMsg(ctx, testMsg(t, fmt.Sprintf("model.p.r%d", i), "")); err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
	}
	if err := b.Wait(ctx); err != nil || b.Stored() != 10 {
		t.Fatalf("Wait = %v, Stored = %d; want nil, 10", err, b.Stored())
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 10 {
		t.Errorf("stream messages = %d, want 10", info.State.Msgs)
	}
}

// TestAtomicBatchBytes: a batch is committed once it holds maxBytes, before
// it has group messages.
func TestAtomicBatchBytes(t *testing.T) {
	ctx := t.Context()
	_, js := natstest.Run(t)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Subjects: []string{"dbt.metadata.>"},
		Duplicates: time.Minute, AllowAtomicPublish: true})
	if err != nil {
		t.Fatal(err)
	}
	b := NewAtomicBatch(js, 100, 2)
	b.maxBytes = 3 * 400
	for i := range 10 {
		if err := b.AddMsg(ctx, testMsg(t, fmt.Sprintf("model.p.c%d", i), strings.Repeat("x", 400))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Wait(ctx); err != nil || b.Stored() != 10 {
		t.Fatalf("Wait = %v, Stored = %d; want nil, 10", err, b.Stored())
	}
	for seq := uint64(1); seq <= 10; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := strconv.Atoi(msg.Header.Get(hdrBatchSeq)); err != nil || n > 3 {
			t.Errorf("message %d: %s %q, want a batch of at most 3", seq, hdrBatchSeq, msg.Header.Get(hdrBatchSeq))
		}
	}
}
