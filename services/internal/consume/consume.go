package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Handler processes one message. See the package doc for what its result means.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// Options tunes Run. The zero value is usable.
type Options struct {
	MaxDeliver  int           // must equal the consumer's MaxDeliver; default 5
	AckWait     time.Duration // the consumer's AckWait, for progress signals; default 30s
	BaseBackoff time.Duration // default 1s
	MaxBackoff  time.Duration // default 1m
	WorkTimeout time.Duration // bound on one handler call; default 10m
	Logger      *slog.Logger
	// OnGiveUp runs before a message is terminated, with the error that ended it.
	OnGiveUp func(ctx context.Context, msg jetstream.Msg, err error)
}

func (o *Options) setDefaults() {
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = 5
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.WorkTimeout <= 0 {
		o.WorkTimeout = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Heartbeat is how often the server confirms an open pull request while it
// has no message to send; two missed heartbeats mean the request is lost
// (its server died, the consumer's leader moved) and a new one is sent.
const heartbeat = 5 * time.Second

// Run pulls from cons until ctx is cancelled, then stops pulling, settles the
// message in hand and returns nil. It returns an error only when the consumer
// is gone or the connection is closed: a lost pull request (missed
// heartbeats) is re-issued, and any other failure of the iterator reopens it.
func Run(ctx context.Context, cons jetstream.Consumer, h Handler, opts Options) error {
	opts.setDefaults()
	for pause := time.Duration(0); ; pause = min(max(2*pause, 100*time.Millisecond), 5*time.Second) {
		err := pull(ctx, cons, h, opts)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if gone(err) {
			return err
		}
		opts.Logger.Warn("consumer iterator failed; reopening it", "err", err, "pause", pause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
	}
}

// pull runs one iterator until ctx is cancelled (nil) or it fails.
func pull(ctx context.Context, cons jetstream.Consumer, h Handler, opts Options) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(1), jetstream.PullHeartbeat(heartbeat))
	if err != nil {
		return fmt.Errorf("consume: open iterator: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	for {
		msg, err := it.Next()
		switch {
		case err == nil:
			settle(ctx, msg, h, opts)
		case errors.Is(err, jetstream.ErrNoHeartbeat):
			// The pull request died with its server or with the consumer's
			// leadership; the iterator sends a new one on the next call.
			opts.Logger.Warn("no heartbeat from the consumer; pulling again", "after", 2*heartbeat)
		case errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil:
			return nil
		default:
			return fmt.Errorf("consume: next: %w", err)
		}
	}
}

// gone reports whether err means the consumer or the connection is gone for
// good, so that Run should stop instead of reopening the iterator.
func gone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionClosed)
}

func settle(ctx context.Context, msg jetstream.Msg, h Handler, opts Options) {
	meta, err := msg.Metadata()
	if err != nil {
		_ = msg.TermWithReason("no jetstream metadata")
		return
	}
	log := opts.Logger.With("subject", msg.Subject(), "stream_seq", meta.Sequence.Stream, "delivery", meta.NumDelivered)
	// WorkTimeout cancels the work; it is not a deadline on workCtx. nats.go
	// gives a JetStream request its own 5 s timeout only when the context
	// has no deadline: a deadline here became the deadline of every request
	// and ack wait in the handler, so one lost with a NATS node hung the
	// handler (and, through InProgress, the message) for WorkTimeout.
	workCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	timer := time.AfterFunc(opts.WorkTimeout, func() {
		cancel(fmt.Errorf("consume: work on the message exceeded %s", opts.WorkTimeout))
	})
	defer timer.Stop()
	herr := callWithProgress(workCtx, msg, h, opts.AckWait)

	var ackErr error
	switch {
	case herr == nil:
		ackErr = msg.Ack()
	case retry.IsPermanent(herr) || meta.NumDelivered >= uint64(opts.MaxDeliver):
		log.Error("giving up on message", "err", herr, "permanent", retry.IsPermanent(herr))
		if opts.OnGiveUp != nil {
			opts.OnGiveUp(workCtx, msg, herr)
		}
		ackErr = msg.TermWithReason(truncate(herr.Error(), 256))
	default:
		delay, ok := retry.Delay(herr)
		if !ok {
			delay = retry.Backoff(meta.NumDelivered, opts.BaseBackoff, opts.MaxBackoff)
		}
		log.Warn("redelivering message", "err", herr, "delay", delay)
		ackErr = msg.NakWithDelay(delay)
	}
	if ackErr != nil {
		log.Warn("settle failed; the server redelivers after AckWait", "err", ackErr)
	}
}

// callWithProgress runs h, telling the server every ackWait/3 that the message
// is still being worked on.
func callWithProgress(ctx context.Context, msg jetstream.Msg, h Handler, ackWait time.Duration) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(max(ackWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return h(ctx, msg)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
