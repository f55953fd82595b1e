// Package publish puts CloudEvents on JetStream in structured JSON mode with
// a deterministic Nats-Msg-Id (the event's ID), so that a republish after a
// crash or redelivery is absorbed by the stream's duplicate window.
//
// [Event] publishes one event and returns once JetStream stored it. [Batch]
// publishes many asynchronously, at most Window unacknowledged at a time (a
// sliding window: a full window waits for its oldest publish only), and
// [Batch.Wait] returns once every one was stored (or the first error).
package publish

import (
	"context"
	"errors"
	"fmt"
	"strconv"

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

// Batch publishes events asynchronously with a bounded sliding window.
//
// A batch made by [NewAtomicBatch] sends its messages in JetStream atomic
// batches (nats-server 2.12 and later, on a stream with AllowAtomicPublish):
// each group of messages is staged without an ack and committed by one
// request, so a server that fsyncs before acking syncs once per group
// instead of once per message. Every message of such a batch must go to the
// same stream. A group the server refuses as a whole (one of its Nats-Msg-Ids
// is already stored, as on a redelivered harvest; too many batches in
// flight; a message over a limit) is published again message by message, so
// duplicates are absorbed one by one as in a plain batch. The server keeps
// the batch headers (Nats-Batch-Id, Nats-Batch-Sequence, and
// Nats-Batch-Commit on a batch's last message) on the stored messages.
type Batch struct {
	js      jetstream.JetStream
	window  int
	pending []pendingAck // oldest first, from head on
	head    int
	err     error
	stored  int

	group     int         // messages per atomic batch; 0 for plain publishes
	open      []*nats.Msg // the atomic batch being staged
	openBytes int
	maxBytes  int // an atomic batch is committed once it holds this many bytes
	id        string
}

// pendingAck is an unacknowledged publish: one message, or the commit of
// an atomic batch of msgs.
type pendingAck struct {
	f    jetstream.PubAckFuture
	msgs []*nats.Msg
}

// Atomic batch headers (ADR-50).
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
	// MaxAtomicBatch is nats-server's default limit of messages per atomic batch.
	MaxAtomicBatch = 1000
	// maxAtomicBytes bounds the bytes of one atomic batch, so that the
	// messages kept for publishing a refused batch again stay bounded
	// (window+1 batches) however large the assets are.
	maxAtomicBytes = 8 << 20
)

// NewBatch returns a batch that keeps at most window publishes unacknowledged.
func NewBatch(js jetstream.JetStream, window int) *Batch {
	return &Batch{js: js, window: max(window, 1)}
}

// NewAtomicBatch returns a batch that publishes in atomic batches of group
// messages (at most MaxAtomicBatch, and at most 8 MiB), with at most window
// of them uncommitted. The stream must allow atomic publishing (see the type's doc).
func NewAtomicBatch(js jetstream.JetStream, group, window int) *Batch {
	return &Batch{js: js, window: max(window, 1), group: min(max(group, 1), MaxAtomicBatch), maxBytes: maxAtomicBytes}
}

// AddMsg publishes msg (an event as Msg makes it, a KV put) without
// waiting, unless the window is full. An atomic batch adds its headers to
// msg.
func (b *Batch) AddMsg(ctx context.Context, msg *nats.Msg) error {
	if b.err != nil {
		return b.err
	}
	if b.group == 0 {
		return b.push(ctx, msg, nil)
	}
	if len(b.open) == 0 {
		b.id = nats.NewInbox()[len(nats.InboxPrefix):]
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	msg.Header.Set(hdrBatchID, b.id)
	msg.Header.Set(hdrBatchSeq, strconv.Itoa(len(b.open)+1))
	if err := b.js.Conn().PublishMsg(msg); err != nil {
		b.err = fmt.Errorf("publish on %s: %w", msg.Subject, err)
		return b.err
	}
	b.open = append(b.open, msg)
	b.openBytes += len(msg.Data)
	if len(b.open) < b.group && b.openBytes < b.maxBytes {
		return nil
	}
	return b.commit(ctx)
}

// commit ends the open atomic batch with an end-of-batch message (which
// the server does not store) and waits for the ack like any publish.
func (b *Batch) commit(ctx context.Context) error {
	msgs := b.open
	b.open, b.openBytes = nil, 0
	eob := nats.NewMsg(msgs[len(msgs)-1].Subject)
	eob.Header.Set(hdrBatchID, b.id)
	eob.Header.Set(hdrBatchSeq, strconv.Itoa(len(msgs)+1))
	eob.Header.Set(hdrBatchCommit, "eob")
	return b.push(ctx, eob, msgs)
}

// push publishes msg asynchronously once the window has room.
func (b *Batch) push(ctx context.Context, msg *nats.Msg, group []*nats.Msg) error {
	if len(b.pending)-b.head >= b.window {
		if err := b.await(ctx, b.pending[b.head]); err != nil {
			return err
		}
		b.head++
		if b.head >= b.window { // reuse the slice's front
			b.pending = append(b.pending[:0], b.pending[b.head:]...)
			b.head = 0
		}
	}
	f, err := b.js.PublishMsgAsync(msg)
	if err != nil {
		b.err = fmt.Errorf("publish on %s: %w", msg.Subject, err)
		return b.err
	}
	b.pending = append(b.pending, pendingAck{f: f, msgs: group})
	return nil
}

// Wait returns once every event added so far is stored, or with the first error.
func (b *Batch) Wait(ctx context.Context) error {
	if len(b.open) > 0 && b.err == nil {
		if err := b.commit(ctx); err != nil {
			return err
		}
	}
	for _, p := range b.pending[b.head:] {
		if b.await(ctx, p) != nil {
			break
		}
	}
	b.pending, b.head = b.pending[:0], 0
	return b.err
}

// await waits for one publish's ack and records its outcome.
func (b *Batch) await(ctx context.Context, p pendingAck) error {
	if b.err != nil {
		return b.err
	}
	select {
	case <-p.f.Ok():
		b.stored += max(len(p.msgs), 1)
	case err := <-p.f.Err():
		if p.msgs != nil {
			return b.oneByOne(ctx, p.msgs)
		}
		b.err = fmt.Errorf("publish on %s: %w", p.f.Msg().Subject, err)
	case <-ctx.Done():
		b.err = fmt.Errorf("publish: waiting for acks: %w", ctx.Err())
	}
	return b.err
}

// oneByOne publishes the messages of a refused atomic batch again without
// its headers, each on its own, and waits for them.
func (b *Batch) oneByOne(ctx context.Context, msgs []*nats.Msg) error {
	var fs []jetstream.PubAckFuture
	for _, m := range msgs {
		m.Header.Del(hdrBatchID)
		m.Header.Del(hdrBatchSeq)
		f, err := b.js.PublishMsgAsync(m)
		if err != nil {
			b.err = fmt.Errorf("publish on %s: %w", m.Subject, err)
			return b.err
		}
		fs = append(fs, f)
	}
	for _, f := range fs {
		if b.await(ctx, pendingAck{f: f}) != nil {
			break
		}
	}
	return b.err
}

// Stored is how many events JetStream acknowledged so far.
func (b *Batch) Stored() int { return b.stored }
