// Package deploytest holds only tests: they check the deployment files in the
// repository's deploy/ folder against the servers that read them, so that a
// config that no longer parses, turns JetStream off, loses the
// fsync-before-ack setting (sync_interval: always) or breaks the cluster's
// routes fails CI instead of a deployment.
//
// The tests parse each deploy/nats/*.conf with nats-server's own parser,
// [github.com/nats-io/nats-server/v2/server.ProcessConfigFile]; start the
// single-node config in process; and form the three-node cluster in process,
// on free loopback ports and temporary store directories, and store a
// message on a stream with replicas 3 (skipped with -short). They run
// `harvester serve`'s embedded server with deploy/nats/auth.conf and check
// what its reader user can do (consume DBT_METADATA, read KV DBT_ASSETS) and
// cannot (publish run events, delete or purge streams, read DBT_RUNS).
//
// For Kubernetes (deploy/k8s) they check what a schema cannot: each
// Deployment runs a binary the Dockerfile builds, probes /healthz and
// /readyz on a port it declares, which also serves /metrics (the receiver's
// --http-addr, the others' HARVESTER_METRICS_ADDR) and is the one Prometheus
// is told to scrape; runs as non-root on a read-only root filesystem with
// memory requested and limited; has a PodDisruptionBudget when it has more
// than one replica; every variable set is one the services read; the
// Ingress exposes only the webhook path, through the receiver's Service;
// the Secret holds placeholders only; and the NATS Helm values give a
// three-node cluster whose JetStream block, rendered as the chart does and
// parsed by nats-server, fsyncs before acking. The schemas themselves are
// checked by kubeconform in `make lint-k8s`, against schemas the k8sschema
// command (a sub-directory) makes from Kubernetes' OpenAPI document.
//
// The Grafana dashboard (deploy/grafana/harvester.json) must parse, use a
// Prometheus datasource variable, and query only issue 13's metrics, by
// their own labels, each of them at least once.
package deploytest
