// Package retry classifies errors for the pipeline's consumers. It is the only
// vocabulary a handler uses to say what should happen to a message:
//
//   - nil: the work is done; the message is acked.
//   - [Permanent]: redelivery cannot fix it (bad payload, 401/403 from dbt
//     Cloud, a malformed artifact); the message is terminated and the run's
//     harvest is failed with the reason.
//   - [After]: try again no sooner than d (a 429's Retry-After, an artifact that
//     is not there yet); the message is naked with that delay.
//   - anything else is transient: naked with [Backoff] until MaxDeliver.
//
// Classify where the cause is known, then wrap as usual with %w.
package retry

import (
	"errors"
	"math/rand/v2"
	"time"
)

// Permanent marks err as one that redelivery cannot fix. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// After asks for a new attempt no sooner than d. After(d, nil) is nil.
func After(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &afterError{d: d, err: err}
}

// IsPermanent reports whether err's chain holds an error marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Delay reports the delay asked for by After anywhere in err's chain.
func Delay(err error) (time.Duration, bool) {
	var a *afterError
	if errors.As(err, &a) {
		return a.d, true
	}
	return 0, false
}

// Backoff is base·2^(attempt-1) capped at max, with up to 20% jitter taken
// off so that redeliveries of many messages spread out; attempt starts at 1.
func Backoff(attempt uint64, base, max time.Duration) time.Duration {
	d := base
	for i := uint64(1); i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if d <= 0 {
		return 0
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

type afterError struct {
	d   time.Duration
	err error
}

func (e *afterError) Error() string { return e.err.Error() }
func (e *afterError) Unwrap() error { return e.err }
