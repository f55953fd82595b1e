// Package publish puts CloudEvents on JetStream in structured JSON mode with
// a deterministic Nats-Msg-Id (the event's ID), so that a republish after a
// crash or redelivery is absorbed by the stream's duplicate window.
//
// [Event] publishes one event and returns once JetStream stored it. [Batch]
// publishes many asynchronously, at most Window unacknowledged at a time, and
// [Batch.Wait] returns once every one was stored (or the first error).
package publish

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/tracing"
)

// MaxPayload is NATS's default maximum message size: no event may exceed it.
const MaxPayload = 1 << 20

// ErrTooLarge is returned for an event whose encoding exceeds MaxPayload.
var ErrTooLarge = errors.New("event exceeds the 1 MiB NATS payload limit")

// Msg encodes m as a NATS message on m.Subject, with the headers
// Content-Type, Nats-Msg-Id (the event's ID) and, when the event carries
// trace context, traceparent and tracestate (for tools that read headers).
func Msg(m events.Message) (*nats.Msg, error) {
	ev := m.Event
	data, err := events.Encode(ev)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxPayload-4096 { // leave room for headers
		return nil, fmt.Errorf("publish %s %s (%d bytes): %w", ev.Type(), ev.ID(), len(data), ErrTooLarge)
	}
	msg := nats.NewMsg(m.Subject)
	msg.Data = data
	msg.Header.Set("Content-Type", events.ContentType)
	msg.Header.Set(jetstream.MsgIDHeader, ev.ID())
	if tr := events.TraceOf(ev); tr.Parent != "" {
		msg.Header.Set(events.ExtTraceParent, tr.Parent)
		if tr.State != "" {
			msg.Header.Set(events.ExtTraceState, tr.State)
		}
	}
	return msg, nil
}

// Event publishes m and waits for JetStream's ack. A duplicate (already
// stored) is not an error; the ack says so. When ctx carries a recording
// span (package tracing), the publish is a "publish" span in it.
func Event(ctx context.Context, js jetstream.JetStream, m events.Message) (_ *jetstream.PubAck, err error) {
	ctx, span := tracing.Child(ctx, "publish", attribute.String("messaging.destination.name", m.Subject),
		attribute.String("cloudevents.event_type", m.Event.Type()), attribute.String("cloudevents.event_id", m.Event.ID()))
	defer func() { tracing.End(span, err) }()
	msg, err := Msg(m)
	if err != nil {
		return nil, err
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("publish %s %s: %w", m.Event.Type(), m.Event.ID(), err)
	}
	return ack, nil
}

// Batch publishes events asynchronously with a bounded window.
type Batch struct {
	js      jetstream.JetStream
	window  int
	pending []jetstream.PubAckFuture
	err     error
	stored  int
}

// NewBatch returns a batch that keeps at most window publishes unacknowledged.
func NewBatch(js jetstream.JetStream, window int) *Batch {
	return &Batch{js: js, window: max(window, 1)}
}

// Add publishes m without waiting, unless the window is full.
func (b *Batch) Add(ctx context.Context, m events.Message) error {
	if b.err != nil {
		return b.err
	}
	msg, err := Msg(m)
	if err != nil {
		b.err = err
		return err
	}
	return b.AddMsg(ctx, msg)
}

// AddMsg publishes msg as it is (a KV put, say) without waiting, unless the
// window is full.
func (b *Batch) AddMsg(ctx context.Context, msg *nats.Msg) error {
	if b.err != nil {
		return b.err
	}
	if len(b.pending) >= b.window {
		if err := b.Wait(ctx); err != nil {
			return err
		}
	}
	f, err := b.js.PublishMsgAsync(msg)
	if err != nil {
		b.err = fmt.Errorf("publish on %s: %w", msg.Subject, err)
		return b.err
	}
	b.pending = append(b.pending, f)
	return nil
}

// Wait returns once every event added so far is stored, or with the first error.
func (b *Batch) Wait(ctx context.Context) error {
	for _, f := range b.pending {
		if b.err != nil {
			break
		}
		select {
		case <-f.Ok():
			b.stored++
		case err := <-f.Err():
			b.err = fmt.Errorf("publish on %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			b.err = fmt.Errorf("publish: waiting for acks: %w", ctx.Err())
		}
	}
	b.pending = b.pending[:0]
	return b.err
}

// Stored is how many events JetStream acknowledged so far.
func (b *Batch) Stored() int { return b.stored }
