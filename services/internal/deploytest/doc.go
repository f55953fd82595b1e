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
// message on a stream with replicas 3 (skipped with -short).
package deploytest
