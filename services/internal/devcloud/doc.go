// Package devcloud is a dbt Cloud simulator for demos and tests: the Admin
// API endpoints the harvester reads, served from folders of dbt artifacts
// as runs with dbt Cloud's step structure, v3 webhook subscriptions, and
// signed job.run.* webhooks posted as dbt Cloud posts them.
//
// # The world
//
// Without Config.Accounts the world is one account (1), project (100),
// environment (200), job (300, "dbt build", docs and freshness on when
// catalog.json and sources.json exist) and run (400, plus ExtraRuns older
// ones), all served from Config.ArtifactsDir. With Accounts (or a YAML
// [File]) it is any number of accounts with projects, environments
// (deployment or development), jobs (scheduled, ci, merge; execute_steps,
// generate_docs, run_generate_sources) and runs, each account with its own
// token. [Server.AddRun] starts a run and [Server.CompleteRun] ends it and
// delivers its webhooks.
//
// # What it serves
//
// Under /api/v2/accounts/{account_id}/: the account itself; runs/ (list:
// job_definition_id, environment_id, project_id, status, status__in,
// id__gt, finished_at__range, order_by id|created_at|finished_at, limit ≤
// 100, offset, with extra.filters/order_by/pagination), runs/{id}/
// (include_related trigger, job, run_steps), runs/{id}/artifacts/ (list),
// runs/{id}/artifacts/{path} (the file, streamed from disk with
// Content-Length; ?step=N), jobs/ (project_id, environment_id), jobs/{id}/,
// and the deprecated projects/ and environments/. Under
// /api/v3/accounts/{account_id}/: projects/, projects/{id}/environments/,
// webhooks/subscriptions (list, create → 201 with hmac_secret),
// webhooks/subscription/{id} (get, put, delete) and its /test. Also GET
// /healthz. Bodies use dbt's envelopes, field sets, value types and
// timestamps; the fidelity tests compare them with captured responses and
// with the OpenAPI v3 schemas. Subscriptions follow dbt's docs where they
// and the spec disagree: job_ids and account_id are strings, timestamps
// strings of epoch microseconds; the test answer carries both documented
// shapes (event_id, and verification_status_code/verification_error).
//
// # Steps and artifacts
//
// A run's steps are dbt Cloud's: clone, profile, `dbt deps`, `dbt source
// freshness` when the job runs it, one step per execute_steps command, and
// `dbt docs generate` last when the job generates docs. A request without
// step gets the last step's artifacts, as in dbt Cloud. If the run's
// folder has step-N/ subfolders, step N serves exactly step-N/. Otherwise
// each step serves from the one folder what its command leaves in target/:
//
//   - freshness step: manifest.json, sources.json
//   - a command step: manifest.json, compiled/** and run/**, and (for
//     commands that write one) run_results.json: the file itself when its
//     args.which is the command's, else a copy with the command's
//     args.which and its own invocation_id, the results unchanged; so
//     ["dbt run", "dbt test"] gives two steps whose run_results differ
//   - docs step: manifest.json, catalog.json, compiled/**, and a
//     run_results.json synthesized with args.which "generate" and no
//     results (the real one lists compiled nodes with near-zero timings);
//     a harvester that takes the default run_results.json therefore gets
//     the docs one, as it would from dbt Cloud.
//
// An errored run fails at its last command step and still runs the docs
// step; a cancelled or running one stops at its first command step. A run
// that is not complete has no artifacts yet (404).
//
// # Errors and faults
//
// A wrong token is a 401 and a token of another account a 403, with dbt's
// bodies; an unknown run, job, artifact or subscription is a 404 with dbt's
// envelope. Faults are Config fields (and flags of `harvester devcloud`),
// and, in RunSpec.Faults, per run: Latency before every answer; RateLimit
// (the first N requests answer 429, with Retry-After when RetryAfter > 0);
// Fail5xx (the first N artifact downloads answer 503); Fail5xxRate (that
// fraction of requests answer 503); TruncateArtifacts (the first N artifact
// downloads declare the full Content-Length, send half and cut the
// connection); SlowBodyBPS (artifact bodies throttled); ArtifactDelay (a
// run's artifacts answer 404 until that long after it completed);
// IgnoreStep (?step= ignored: the last step's files, as dbt Cloud was
// reported to do). RetiredHost (global only) answers 401 to requests for
// the retired shared hosts cloud.getdbt.com, emea.dbt.com and au.dbt.com.
//
// # Webhooks
//
// A delivery is POSTed signed with the subscription's secret and retried
// as dbt Cloud does (10 s per attempt, up to 5 retries, the same eventId
// and body); each attempt records http_status_code ("0" when there was no
// answer) and dispatched_at. dbt "deactivates a webhook after 5
// consecutive failed attempts to deliver events"; we read an attempt to
// deliver an event as one delivery of up to 1+5 HTTP attempts, so 5
// consecutive events whose every attempt failed deactivate the
// subscription (active false, deactivate_reason set; Config.
// DeactivateAfter changes the count); a success resets the count, and a
// PUT with active true reactivates it. The test endpoint sends one attempt
// of a job.run.completed sample whose run and job do not exist, and does
// not count toward deactivation. Config.WebhookURL is a subscription (all
// events, all jobs) too; [Server.Deliver] sends one event of the configured
// run to it, and [Run] delivers started, errored (for an errored run) and
// completed once the server is listening.
package devcloud
