package dbtcloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// ErrRateLimited is wrapped by the error of a request that got a 429, and by
// the error of one that gave up waiting for the account's cooldown to end.
var ErrRateLimited = errors.New("dbtcloud: rate limited")

// DefaultRequestsPerSecond is a Client's steady rate unless Options says
// otherwise: 40 a second is 2,400 a minute, under half of dbt's documented
// 5,000 Admin API requests per minute per account, which leaves room for
// the account's other API users.
const DefaultRequestsPerSecond = 40

// limiter is the per-account gate every request of a Client passes: a
// cooldown after a 429, shared by all requests, and an optional steady rate.
// It is safe for concurrent use.
type limiter struct {
	interval time.Duration    // between two requests; 0 = no steady rate
	now      func() time.Time // time.Now, or a test clock
	sleep    func(context.Context, time.Duration) error
	cooled   func(time.Duration) // told how long a request waited for the cooldown; nil: not told

	mu    sync.Mutex
	until time.Time // end of the cooldown
	next  time.Time // earliest start of the next request at the steady rate
}

func newLimiter(perSecond float64) *limiter {
	l := &limiter{now: time.Now, sleep: sleepCtx}
	if perSecond > 0 {
		l.interval = time.Duration(float64(time.Second) / perSecond)
	}
	return l
}

// cool starts (or extends) the cooldown: no request starts before now+d.
func (l *limiter) cool(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if end := l.now().Add(d); end.After(l.until) {
		l.until = end
	}
}

// cooldown is how much of the cooldown is left.
func (l *limiter) cooldown() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until.Sub(l.now())
}

// wait blocks until the request may start: after the cooldown (re-checked
// after every wake-up, since another 429 may extend it) and at its slot of
// the steady rate. When ctx's deadline falls before the cooldown ends, it
// returns at once a retry.After error for the time left, so that the caller
// redelivers its message then instead of waiting in vain; a cancelled ctx
// returns its error.
func (l *limiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := l.now()
		cool := l.until.Sub(now)
		if cool <= 0 {
			at := now
			if l.next.After(at) {
				at = l.next
			}
			if l.interval > 0 {
				l.next = at.Add(l.interval)
			}
			l.mu.Unlock()
			return l.sleep(ctx, at.Sub(now))
		}
		l.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && dl.Before(now.Add(cool)) {
			return retry.After(cool, fmt.Errorf("%w: the account cools down for another %s", ErrRateLimited, cool.Round(time.Millisecond)))
		}
		err := l.sleep(ctx, cool)
		if l.cooled != nil {
			l.cooled(min(l.now().Sub(now), cool))
		}
		if err != nil {
			return err
		}
	}
}

// sleepCtx sleeps d, or returns ctx's error if it is done first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
