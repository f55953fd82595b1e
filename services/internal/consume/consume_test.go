package consume

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

func TestRunSettles(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		fail      func(call int) error // the handler's result on call n (1-based)
		wantCalls int
		wantGive  int
	}{
		{"ack", func(int) error { return nil }, 1, 0},
		{"transient then ok", func(n int) error {
			if n == 1 {
				return errBoom
			}
			return nil
		}, 2, 0},
		{"after then ok", func(n int) error {
			if n == 1 {
				return retry.After(20*time.Millisecond, errBoom)
			}
			return nil
		}, 2, 0},
		{"permanent", func(int) error { return retry.Permanent(errBoom) }, 1, 1},
		{"max deliver", func(int) error { return errBoom }, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			_, js := natstest.Run(t)
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
				t.Fatalf("CreateStream: %v", err)
			}
			cons, err := js.CreateOrUpdateConsumer(ctx, "T", jetstream.ConsumerConfig{
				Durable: "c", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 3, AckWait: 5 * time.Second,
			})
			if err != nil {
				t.Fatalf("CreateOrUpdateConsumer: %v", err)
			}
			if _, err := js.Publish(ctx, "t.x", []byte("hi")); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			var calls, gaveUp atomic.Int32
			settled := make(chan struct{})
			var once sync.Once
			h := func(ctx context.Context, msg jetstream.Msg) error {
				n := int(calls.Add(1))
				err := tt.fail(n)
				if err == nil || n == tt.wantCalls {
					defer time.AfterFunc(100*time.Millisecond, func() { once.Do(func() { close(settled) }) })
				}
				return err
			}
			errc := make(chan error, 1)
			go func() {
				errc <- Run(ctx, cons, h, Options{
					MaxDeliver: 3, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
					OnGiveUp: func(context.Context, jetstream.Msg, error) { gaveUp.Add(1) },
				})
			}()
			select {
			case <-settled:
			case <-time.After(10 * time.Second):
				t.Fatalf("handler called %d times, want %d (timed out)", calls.Load(), tt.wantCalls)
			}
			cancel()
			if err := <-errc; err != nil {
				t.Fatalf("Run after cancel = %v, want nil", err)
			}
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("handler calls = %d, want %d", got, tt.wantCalls)
			}
			if got := int(gaveUp.Load()); got != tt.wantGive {
				t.Errorf("OnGiveUp calls = %d, want %d", got, tt.wantGive)
			}
			info, err := cons.Info(context.Background())
			if err != nil {
				t.Fatalf("consumer Info: %v", err)
			}
			if info.NumAckPending != 0 || info.NumPending != 0 {
				t.Errorf("consumer ack pending = %d, pending = %d; want the message settled", info.NumAckPending, info.NumPending)
			}
		})
	}
}

// The handler's context carries no deadline (a deadline would replace
// nats.go's 5 s timeout on every JetStream request the handler makes, so a
// request lost with a NATS node would hang it for WorkTimeout), yet
// WorkTimeout still cancels it, with a cause that says so.
func TestWorkTimeoutCancelsWithoutDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, js := natstest.Run(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "T", jetstream.ConsumerConfig{
		Durable: "c", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 3, AckWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.x", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		hasDeadline bool
		cause       error
	}
	got := make(chan seen, 3)
	go func() {
		_ = Run(ctx, cons, func(ctx context.Context, _ jetstream.Msg) error {
			_, ok := ctx.Deadline()
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			got <- seen{ok, context.Cause(ctx)}
			return retry.Permanent(errors.New("stop"))
		}, Options{MaxDeliver: 3, WorkTimeout: 200 * time.Millisecond})
	}()
	select {
	case s := <-got:
		if s.hasDeadline {
			t.Error("the handler's context has a deadline, want none")
		}
		if s.cause == nil || !strings.Contains(s.cause.Error(), "exceeded 200ms") {
			t.Errorf("the handler's context ended with %v, want cancelled by the work timeout", s.cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never returned")
	}
}
