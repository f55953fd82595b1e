package publish

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
)

func testEvent(t *testing.T, id string, data any) (string, event.Event) {
	t.Helper()
	r := events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 5}
	ev, err := events.New(events.TypeAssetHarvested, id, r, "", time.Unix(0, 0), data)
	if err != nil {
		t.Fatal(err)
	}
	return events.AssetSubject(r, "model"), ev
}

func TestEventAndBatch(t *testing.T) {
	ctx := t.Context()
	_, js := natstest.Run(t)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Subjects: []string{"dbt.metadata.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	subj, ev := testEvent(t, "a/1", map[string]string{"k": "v"})
	ack, err := Event(ctx, js, subj, ev)
	if err != nil || ack.Duplicate {
		t.Fatalf("Event = %+v, %v; want stored", ack, err)
	}
	if ack, err = Event(ctx, js, subj, ev); err != nil || !ack.Duplicate {
		t.Fatalf("Event again = %+v, %v; want a duplicate", ack, err)
	}
	b := NewBatch(js, 3)
	for i := range 10 {
		subj, ev := testEvent(t, fmt.Sprintf("b/%d", i), i)
		if err := b.Add(ctx, subj, ev); err != nil {
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
	if msg.Header.Get("Content-Type") != events.ContentType || msg.Header.Get(jetstream.MsgIDHeader) != "a/1" {
		t.Errorf("headers = %v", msg.Header)
	}
}

func TestTooLarge(t *testing.T) {
	subj, ev := testEvent(t, "big", strings.Repeat("x", MaxPayload))
	if _, err := Msg(subj, ev); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Msg(1 MiB event) error = %v, want ErrTooLarge", err)
	}
}
