// Package openlineage turns a harvest into OpenLineage run events
// (https://openlineage.io, spec 2-0-2) and delivers them to a lineage
// backend over HTTP.
//
// # Mapping (pure)
//
// A [Collector] keeps, from a harvest's assets, the relations and the
// executed models, seeds, snapshots and tests with their results; [Build]
// makes the events: the dbt Cloud run as the parent run (START and
// COMPLETE, FAIL or ABORT at the run's real start and finish, with the
// custom facet dbtCloudRun), then a START and a COMPLETE or FAIL per executed
// node at the times of run_results.json, whose parent facet points at the
// dbt Cloud run. Inputs and outputs are named by the OpenLineage naming
// conventions in the warehouse namespace configured per environment
// ([Options]). Run IDs are UUIDv5 of account, run, generation and node
// ([RunID]): the same harvest always gives the same events. [Fit] keeps an
// event under NATS's 1 MiB by truncating its SQL, then dropping dataset
// facets; [CloudEvents] wraps the events for stream DBT_OPENLINEAGE with
// deterministic IDs. Nothing here does I/O; the normalizer publishes.
//
// # HTTP transport
//
// [Transport.Handle] is the handler of the durable consumer
// "openlineage-http" on DBT_OPENLINEAGE (topology): it POSTs the RunEvent of
// one message to a Marquez-compatible /api/v1/lineage, with the API key as a
// Bearer token. A 2xx acks the message. An event the backend rejects as
// invalid (400, 413, 422), or a message that is not an OpenLineage event,
// is permanent and terminated. Anything else (connection refused, timeouts,
// 5xx, 429, 401/403) is retried by the consumer with backoff, honouring
// Retry-After, without a limit: the consumer has MaxAckPending 1, so
// nothing overtakes the waiting event and a run's events arrive in order
// once the backend is back. The transport owns no state: JetStream holds
// the position.
package openlineage
