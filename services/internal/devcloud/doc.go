// Package devcloud is a dbt Cloud simulator for demos and tests: the Admin
// API v2 endpoints the harvester reads, served from a folder of dbt
// artifacts as one job's run (and optionally older runs of it), plus signed
// job.run.* webhooks posted as dbt Cloud posts them.
//
// # What it serves
//
// Under /api/v2/accounts/{account_id}/: runs/ (list: job_definition_id,
// environment_id, status, id__gt, order_by, limit ≤ 100, offset, with
// extra.filters/order_by/pagination), runs/{id}/ (include_related trigger,
// job, run_steps), runs/{id}/artifacts/ (list), runs/{id}/artifacts/{path}
// (the file, streamed from disk with Content-Length; ?step=N), jobs/{id}/.
// Also GET /healthz. Bodies use dbt's envelope, its field sets, its value
// types and its "2021-09-10 16:28:07.062296+00:00" timestamps; the fidelity
// test compares them with captured real responses.
//
// The run's steps are those dbt Cloud runs: clone, profile, `dbt deps`,
// `dbt source freshness` if sources.json exists, `dbt build`, and `dbt docs
// generate` if catalog.json exists. Each step has its own artifacts, and a
// request without step gets the last step's, as in dbt Cloud:
//
//   - freshness step: manifest.json, sources.json
//   - build step: manifest.json, run_results.json, compiled/** and run/**
//   - docs step: manifest.json, catalog.json, compiled/**, and a
//     run_results.json synthesized from the build one with args.which
//     "generate", a new invocation_id and no results (the real one lists
//     compiled nodes with near-zero timings); a harvester that takes the
//     default run_results.json therefore gets the docs one, as it would
//     from dbt Cloud.
//
// # Errors and faults
//
// A wrong token is a 401 and a wrong account a 403, with dbt's bodies; an
// unknown run, job or artifact is a 404 with dbt's envelope. Faults, each
// counted per Server: Latency before every answer, RateLimit (the first N
// API requests answer 429, with Retry-After when RetryAfter > 0), Fail5xx
// (the first N artifact downloads answer 503), TruncateArtifacts (the first N
// artifact downloads declare the full Content-Length, send half and cut the
// connection).
//
// # Webhooks
//
// [Server.Deliver] POSTs one signed webhook and retries it as dbt Cloud does
// (10 s per attempt, up to 5 retries, the same eventId and body); [Run]
// delivers job.run.started then job.run.completed (and job.run.errored first
// for an errored run) once the server is listening.
package devcloud
