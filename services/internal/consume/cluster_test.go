package consume

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/services/internal/natstest"
)

// Issue 14: when the server that holds the pull request dies (a NATS node
// SIGKILLed, the consumer's leader with it) while the client's own
// connection stays up, nothing but the missing heartbeats says the request
// is lost. Run must pull again, not return (which stopped the service).
// Here the connection goes silent for longer than two of nats.go's default
// heartbeats (15 s) and comes back: the old Run returned "no heartbeat
// received"; Run must handle what is published after.
func TestRunSurvivesMissedHeartbeats(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 32 s of silence")
	}
	conn, admin := natstest.Run(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if _, err := admin.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateOrUpdateConsumer(ctx, "T", jetstream.ConsumerConfig{
		Durable: "c", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5, AckWait: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	p := newGateProxy(t, conn.ClientURL())
	nc, err := nats.Connect(p.url(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, "T", "c")
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan string, 10)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() {
		runErr <- Run(runCtx, cons, func(_ context.Context, m jetstream.Msg) error {
			handled <- string(m.Data())
			return nil
		}, Options{MaxDeliver: 5, AckWait: 2 * time.Minute})
	}()
	wait := func(want string, within time.Duration) {
		t.Helper()
		select {
		case got := <-handled:
			if got != want {
				t.Fatalf("handled %q, want %q", got, want)
			}
		case err := <-runErr:
			t.Fatalf("Run returned %v while waiting for %q; it must pull again", err, want)
		case <-time.After(within):
			t.Fatalf("%q not handled within %s of its publish", want, within)
		}
	}
	if _, err := admin.Publish(ctx, "t.x", []byte("before")); err != nil {
		t.Fatal(err)
	}
	wait("before", 10*time.Second)
	time.Sleep(500 * time.Millisecond) // its ack reaches the server
	p.pause()
	time.Sleep(32 * time.Second) // > 2 × the default 15 s heartbeat
	p.resume()
	if _, err := admin.Publish(ctx, "t.x", []byte("after")); err != nil {
		t.Fatal(err)
	}
	wait("after", 30*time.Second)
	stop()
	if err := <-runErr; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

// gateProxy forwards TCP connections to a server; while paused it holds
// every byte in both directions (the connection stays open, as with a
// peer that went silent).
type gateProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	open   *sync.Cond
	paused bool
}

func newGateProxy(t *testing.T, target string) *gateProxy {
	t.Helper()
	u := target[len("nats://"):]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &gateProxy{ln: ln}
	p.open = sync.NewCond(&p.mu)
	var conns sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.resume()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", u)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); s.Close() })
			conns.Go(func() { p.pipe(s, c) })
			conns.Go(func() { p.pipe(c, s) })
		}
	}()
	return p
}

func (p *gateProxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *gateProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.paused {
				p.open.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				_ = src.Close()
			}
			return
		}
	}
}

func (p *gateProxy) pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}

func (p *gateProxy) resume() {
	p.mu.Lock()
	p.paused = false
	p.open.Broadcast()
	p.mu.Unlock()
}
