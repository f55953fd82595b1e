// Package consume runs a handler over a durable JetStream pull consumer.
//
// # Usage
//
// A service gets its consumer (topology.Ensure creates it) and calls
// [Run] with a [Handler]. Run returns when ctx is cancelled (nil) or the
// consumer goes away (an error).
//
// # Delivery guarantees
//
// Messages are handled one at a time, in order of delivery. The handler's
// result settles the message, once:
//
//   - nil: Ack.
//   - an error marked retry.Permanent, or any error on the last allowed
//     delivery (Options.MaxDeliver, which must match the consumer's): the
//     Options.OnGiveUp hook runs (the pipeline publishes a harvest-failed event
//     there, so nothing disappears silently), then TermWithReason.
//   - an error with retry.After(d): NakWithDelay(d).
//   - any other error: NakWithDelay(retry.Backoff(delivery)). The server's
//     BackOff setting is not used: Nak ignores it.
//
// While the handler works, Run tells the server every AckWait/3 that the
// message is in progress, so a long download is not redelivered to another
// instance; Options.WorkTimeout bounds the work instead, by cancelling the
// handler's context: that context has no deadline, so each JetStream request
// the handler makes keeps nats.go's own short timeout, and one lost with a
// NATS node fails in seconds instead of holding the message.
//
// # Failures of NATS
//
// A pull request lost with its server (a node killed, the consumer's leader
// moved) shows only as missing heartbeats (every 5 s): Run pulls again. A
// reconnect re-issues the pull request too. Any other failure of the
// iterator reopens it after a short pause; Run returns an error only when
// the consumer was deleted or the connection closed.
//
// # Shutdown
//
// Cancelling ctx is the soft stop: no new messages are pulled, the message
// in hand finishes on a context detached from ctx (bounded by WorkTimeout),
// it is settled, and Run returns nil. Messages pulled but not yet handled are
// redelivered by the server after AckWait.
package consume
