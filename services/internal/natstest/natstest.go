// Package natstest starts real NATS servers for tests: an in-process server
// with JetStream on a random loopback port and a temporary store directory,
// torn down when the test ends.
package natstest

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/services/internal/natsconn"
)

// Run starts an embedded JetStream server for one test and connects to it.
func Run(t testing.TB) (*natsconn.Conn, jetstream.JetStream) {
	t.Helper()
	conn, closeFn, err := natsconn.Connect(t.Context(), natsconn.Options{
		Name:     "test",
		StoreDir: t.TempDir(),
		Listen:   "127.0.0.1:-1",
	})
	if err != nil {
		t.Fatalf("natsconn.Connect(embedded): %v", err)
	}
	t.Cleanup(closeFn)
	js, err := jetstream.New(conn.NC)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return conn, js
}
