// Package dbtcloud is the dbt Cloud Admin API client: v2 runs (get, list
// with filters), run artifacts (list, download), jobs and the account; v3
// projects, environments and webhook subscriptions (list, create, get,
// update, delete, test).
//
// # Errors
//
// Every failed call is classified once, here, with package retry:
//
//   - 401 and 403 are [retry.Permanent]; the message says what to fix (token
//     invalid or expired, token not scoped to the account, IP restrictions,
//     a retired shared host) and quotes dbt's user_message. Other 4xx except
//     404 and 429 are permanent too.
//   - 404 wraps [ErrNotFound]; the caller decides whether that means "not
//     yet" (run still ingesting) or "absent" (run complete).
//   - 429 is [retry.After] with the Retry-After delay, or 5 minutes, dbt's
//     documented cooldown, when the header is missing.
//   - 5xx, timeouts, connection resets and bodies that end early are plain
//     (transient) errors.
//
// Every HTTP error is also an [*APIError], for callers that want the status.
// The API token never appears in an error, a log line or a panic value, and
// a subscription's [Secret] prints as "[redacted]".
//
// # Rate limits and retries
//
// All requests of a Client pass one limiter, safe for concurrent use: a
// steady rate (Options.RequestsPerSecond, default [DefaultRequestsPerSecond])
// and, after a 429, a cooldown (Retry-After, else Options.Cooldown, default
// [DefaultCooldown]) that every request waits for, not only the one that
// got the 429. That one still returns [retry.After] so that its message is
// redelivered late; a request whose ctx deadline falls inside the cooldown
// returns [retry.After] at once, without a request. Both wrap
// [ErrRateLimited].
//
// A GET that fails with a 5xx, a timeout, a reset connection or a JSON body
// cut short is tried again in the client, up to Options.MaxAttempts (3)
// with capped exponential backoff and jitter, but never once a body was
// handed to the caller ([Client.Artifact]'s body is the caller's) and never
// after ctx is done; the last error stays transient. POST, PUT, DELETE and
// the test delivery are sent once.
//
// # Bodies
//
// JSON calls read and close their response bodies. [Client.Artifact] hands
// the body to the caller, who reads it and must close it; it is streamed,
// never buffered, and a body shorter than its Content-Length ends with
// io.ErrUnexpectedEOF.
package dbtcloud
