// Package chaos proves the pipeline on a real NATS cluster (`make chaos`).
//
// Its tests start three nats-server processes built from the pinned module
// with deploy/nats/cluster/nats-{1,2,3}.conf (ports and store directories
// moved to free ports and temporary folders), streams with replicas 3, two
// receiver, two fetcher and two normalizer processes, and the dbt Cloud
// simulator as dbt Cloud; they send signed webhooks the way dbt Cloud does
// (10 s per attempt, five retries with the same eventId), break things
// (SIGKILL of NATS nodes and services, API faults, poison artifacts), and
// read the outcome back from the streams: every run whose webhook got a 2xx
// has exactly one harvest.completed (or, where the scenario says so, one
// harvest.failed with a reason) per generation.
//
// The tests run only with HARVESTER_CHAOS=1 (they take minutes and build
// binaries); `make chaos` sets it and prints the figures table that
// HARVESTER_CHAOS_REPORT names. The package holds no code outside its tests.
package chaos
