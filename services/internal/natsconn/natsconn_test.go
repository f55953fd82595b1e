package natsconn

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestEmbeddedThenExternal(t *testing.T) {
	ctx := context.Background()
	conn, closeFn, err := Connect(ctx, Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatalf("Connect(embedded): %v", err)
	}
	defer closeFn()
	if conn.Server == nil {
		t.Fatal("embedded connection has no server")
	}
	if !conn.Server.JetStreamEnabled() {
		t.Error("embedded server has JetStream off")
	}
	if got := conn.Server.JetStreamConfig(); got == nil || !got.SyncAlways {
		t.Errorf("embedded server does not fsync before ack (SyncAlways off)")
	}
	// Another client reaches the embedded server on its listen address.
	ext, closeExt, err := Connect(ctx, Options{URL: conn.ClientURL(), Name: "second"})
	if err != nil {
		t.Fatalf("Connect(external %s): %v", conn.ClientURL(), err)
	}
	js, err := jetstream.New(ext.NC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Errorf("JetStream through the listen address: %v", err)
	}
	closeExt()
	if !ext.NC.IsClosed() {
		t.Error("close did not close the external connection")
	}
}

func TestFastSync(t *testing.T) {
	conn, closeFn, err := Connect(context.Background(), Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1", FastSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if conn.Server.JetStreamConfig().SyncAlways {
		t.Error("FastSync left SyncAlways on")
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://user:pa55@h1:4222,nats://tok3n@h2:4222", "nats://%2A%2A%2A@h1:4222,nats://%2A%2A%2A@h2:4222"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no retries: fail at once
	if _, _, err := Connect(ctx, Options{URL: "nats://user:pa55@127.0.0.1:1"}); err == nil || strings.Contains(err.Error(), "pa55") {
		t.Errorf("Connect error = %v: want an error without the password", err)
	}
}
