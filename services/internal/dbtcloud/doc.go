// Package dbtcloud is the dbt Cloud Admin API v2 client the fetcher uses: get
// a run with its steps and job, list runs, list and download run artifacts,
// get a job.
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
// The client itself never retries: the consumer redelivers the message.
// The API token never appears in an error, a log line or a panic value.
//
// # Bodies
//
// JSON calls read and close their response bodies. [Client.Artifact] hands
// the body to the caller, who reads it and must close it; it is streamed,
// never buffered, and a body shorter than its Content-Length ends with
// io.ErrUnexpectedEOF.
package dbtcloud
