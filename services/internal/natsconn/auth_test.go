package natsconn_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/services/internal/natsconn"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEmbeddedRefusesOpenNetwork: beyond loopback only with authentication.
func TestEmbeddedRefusesOpenNetwork(t *testing.T) {
	users := writeConfig(t, "authorization { users = [{user: svc, password: pw}] }\n")
	portOnly := writeConfig(t, "port: -1\n")
	anonymousAdmin := writeConfig(t, "authorization { users = [{user: anon, password: pw}] }\nno_auth_user: anon\n")
	anonymousReader := writeConfig(t, "authorization { users = [{user: svc, password: pw}, "+
		"{user: anon, password: x, permissions: {subscribe: \"dbt.metadata.>\"}}] }\nno_auth_user: anon\n")
	openWebsocket := writeConfig(t, "websocket { listen: \"0.0.0.0:-1\", no_tls: true }\n")
	tests := []struct {
		name, listen, config string
		refused              bool
	}{
		{"loopback, no auth", "127.0.0.1:-1", "", false},
		{"localhost, no auth", "localhost:-1", "", false},
		{"IPv6 loopback, no auth", "[::1]:-1", "", false},
		{"all interfaces, no auth", "0.0.0.0:-1", "", true},
		{"empty host, no auth", ":-1", "", true},
		{"a host name, no auth", "harvester.internal:-1", "", true},
		{"all interfaces, users", "0.0.0.0:-1", users, false},
		{"file sets only the port: loopback host kept", "127.0.0.1:4222", portOnly, false},
		{"no_auth_user with full access", "0.0.0.0:-1", anonymousAdmin, true},
		{"no_auth_user with restricted permissions", "0.0.0.0:-1", anonymousReader, false},
		{"websocket beyond loopback, no auth", "127.0.0.1:-1", openWebsocket, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := natsconn.CheckEmbedded(natsconn.Options{Listen: tt.listen, ServerConfig: tt.config, StoreDir: t.TempDir()})
			if (err != nil) != tt.refused {
				t.Fatalf("CheckEmbedded(%s, %q) = %v, want refused %v", tt.listen, tt.config, err, tt.refused)
			}
			if err == nil {
				return
			}
			for _, want := range []string{"without authentication", "--nats-config", "HARVESTER_NATS_CONFIG", natsconn.ShippedConfig} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
		})
	}
	// Connect refuses before it binds anything.
	_, _, err := natsconn.Connect(t.Context(), natsconn.Options{Listen: "0.0.0.0:-1", StoreDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--nats-config") {
		t.Errorf("Connect(0.0.0.0 without auth) = %v, want the refusal", err)
	}
}

// TestEmbeddedWithUsers: the embedded server with a config file takes the
// file's users, and the in-process connection must be one of them.
func TestEmbeddedWithUsers(t *testing.T) {
	t.Setenv("TEST_SVC_PASSWORD", "c0ffee42beef")
	store := t.TempDir()
	conf := writeConfig(t, fmt.Sprintf("listen: 127.0.0.1:-1\nserver_name: from-file\n"+
		"jetstream { store_dir: %q, sync_interval: 2m }\n"+
		"authorization { users = [{user: svc, password: $TEST_SVC_PASSWORD}] }\n", store))
	opts := natsconn.Options{ServerConfig: conf, Listen: "127.0.0.1:4999", StoreDir: t.TempDir()}

	_, _, err := natsconn.Connect(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), "NATS_USER") {
		t.Fatalf("Connect without credentials = %v, want an authorization error that names NATS_USER", err)
	}
	opts.User, opts.Password = "svc", "wrong-one"
	if _, _, err := natsconn.Connect(t.Context(), opts); err == nil || strings.Contains(err.Error(), "wrong-one") || !strings.Contains(err.Error(), "NATS_USER") {
		t.Fatalf("Connect with a wrong password = %v, want an error that names NATS_USER, without the password", err)
	}
	opts.Password = "c0ffee42beef"
	conn, closeFn, err := natsconn.Connect(t.Context(), opts)
	if err != nil {
		t.Fatalf("Connect as svc: %v", err)
	}
	defer closeFn()
	sopts := conn.Server.JetStreamConfig()
	if !conn.Server.JetStreamEnabled() || sopts.StoreDir != filepath.Join(store, "jetstream") || sopts.SyncAlways {
		t.Errorf("JetStream = %v, store %q, SyncAlways %v: want on, the file's store_dir, the file's sync_interval",
			conn.Server.JetStreamEnabled(), sopts.StoreDir, sopts.SyncAlways)
	}
	if got := conn.Server.Name(); got != "from-file" {
		t.Errorf("server name = %q, want the file's", got)
	}
	if strings.HasSuffix(conn.ClientURL(), ":4999") {
		t.Errorf("client URL %s: the file's listen should win over Listen", conn.ClientURL())
	}
	js, _ := jetstream.New(conn.NC)
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Errorf("JetStream in process: %v", err)
	}
	if _, err := nats.Connect(conn.ClientURL(), nats.MaxReconnects(0)); err == nil {
		t.Error("an anonymous client connected to the embedded server with users")
	}
}

// TestEmbeddedDefaultsWithoutFileSettings: what the file leaves out, the
// harvester sets: fsync before ack, its store dir, its listen address.
func TestEmbeddedDefaultsWithoutFileSettings(t *testing.T) {
	conf := writeConfig(t, "authorization { users = [{user: svc, password: pw}] }\n")
	store := t.TempDir()
	conn, closeFn, err := natsconn.Connect(t.Context(), natsconn.Options{ServerConfig: conf, Listen: "127.0.0.1:-1",
		StoreDir: store, User: "svc", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if c := conn.Server.JetStreamConfig(); !c.SyncAlways || c.StoreDir != filepath.Join(store, "jetstream") {
		t.Errorf("SyncAlways %v, store %q: want fsync before ack in %s", c.SyncAlways, c.StoreDir, store)
	}
	if !strings.HasPrefix(conn.ClientURL(), "nats://127.0.0.1:") {
		t.Errorf("client URL %s, want Listen's 127.0.0.1", conn.ClientURL())
	}
}

// TestConfigErrorHidesValues: a password from the environment that the
// parser cannot read is not quoted in the error.
func TestConfigErrorHidesValues(t *testing.T) {
	t.Setenv("TEST_BAD_PASSWORD", "hunter2 sekrit}tail")
	conf := writeConfig(t, "authorization { users = [{user: svc, password: $TEST_BAD_PASSWORD}] }\n")
	_, _, err := natsconn.Connect(t.Context(), natsconn.Options{ServerConfig: conf, Listen: "127.0.0.1:-1", StoreDir: t.TempDir()})
	if err == nil {
		t.Fatal("Connect with an unparsable password succeeded")
	}
	for _, part := range []string{"hunter2", "sekrit", "tail"} {
		if strings.Contains(err.Error(), part) {
			t.Errorf("error %q shows part of the password (%q)", err, part)
		}
	}
	if !strings.Contains(err.Error(), "TEST_BAD_PASSWORD") {
		t.Errorf("error %q does not name the variable", err)
	}
}

// TestExternalAuthentication: the services' connection to an external
// server with each kind of credentials, and without them.
func TestExternalAuthentication(t *testing.T) {
	nkeyPub, nkeySeed := natstest.NKeyUser(t)
	operator, creds := natstest.Operator(t)
	certs := natstest.TLS(t)
	tlsConf := fmt.Sprintf("tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true }\n", certs.ServerCert, certs.ServerKey, certs.CA)
	tests := []struct {
		name, config string
		opts         natsconn.Options
		ok           bool
	}{
		{"user and password", "authorization { users = [{user: svc, password: pw}] }", natsconn.Options{User: "svc", Password: "pw"}, true},
		{"wrong password", "authorization { users = [{user: svc, password: pw}] }", natsconn.Options{User: "svc", Password: "nope"}, false},
		{"nkey", "authorization { users = [{nkey: " + nkeyPub + "}] }", natsconn.Options{NKeyFile: nkeySeed}, true},
		{"nkey missing", "authorization { users = [{nkey: " + nkeyPub + "}] }", natsconn.Options{}, false},
		{"creds (operator, JWT)", operator, natsconn.Options{CredsFile: creds}, true},
		{"TLS with a client certificate and a password", tlsConf + "authorization { users = [{user: svc, password: pw}] }",
			natsconn.Options{TLSCA: certs.CA, TLSCert: certs.ClientCert, TLSKey: certs.ClientKey, User: "svc", Password: "pw"}, true},
		{"TLS without a client certificate", tlsConf, natsconn.Options{TLSCA: certs.CA}, false},
		{"TLS without the CA", tlsConf, natsconn.Options{TLSCert: certs.ClientCert, TLSKey: certs.ClientKey}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := natstest.Server(t, tt.config)
			ctx, cancel := context.WithCancel(t.Context())
			if !tt.ok {
				cancel() // one attempt, no retries
			}
			defer cancel()
			tt.opts.URL, tt.opts.Name = ns.ClientURL(), "svc"
			conn, closeFn, err := natsconn.Connect(ctx, tt.opts)
			if !tt.ok {
				if err == nil {
					closeFn()
					t.Fatal("Connect succeeded, want refused")
				}
				if tt.opts.Password != "" && strings.Contains(err.Error(), string(tt.opts.Password)) {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			defer closeFn()
			js, _ := jetstream.New(conn.NC)
			if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
				t.Fatalf("CreateStream: %v", err)
			}
			if _, err := js.Publish(t.Context(), "t.1", []byte("x")); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		})
	}
}

func TestPasswordRedacted(t *testing.T) {
	o := natsconn.Options{User: "svc", Password: "pa55w0rd"}
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o)} {
		if strings.Contains(s, "pa55w0rd") {
			t.Errorf("Options printed %s", s)
		}
	}
}

// TestEmbeddedWithTLS: a tls block in the file makes other clients use TLS;
// the services' in-process connection needs none.
func TestEmbeddedWithTLS(t *testing.T) {
	certs := natstest.TLS(t)
	conf := writeConfig(t, fmt.Sprintf("tls { cert_file: %q, key_file: %q }\nauthorization { users = [{user: svc, password: pw}] }\n",
		certs.ServerCert, certs.ServerKey))
	conn, closeFn, err := natsconn.Connect(t.Context(), natsconn.Options{ServerConfig: conf, Listen: "127.0.0.1:-1",
		StoreDir: t.TempDir(), User: "svc", Password: "pw"})
	if err != nil {
		t.Fatalf("Connect(embedded with TLS): %v", err)
	}
	defer closeFn()
	if !strings.HasPrefix(conn.ClientURL(), "tls://") {
		t.Errorf("client URL %s, want tls://", conn.ClientURL())
	}
	other, closeOther, err := natsconn.Connect(t.Context(), natsconn.Options{URL: conn.ClientURL(), TLSCA: certs.CA, User: "svc", Password: "pw"})
	if err != nil {
		t.Fatalf("Connect over TLS to the embedded server: %v", err)
	}
	defer closeOther()
	if !other.NC.TLSRequired() {
		t.Error("the other client's connection is not TLS")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := natsconn.Connect(ctx, natsconn.Options{URL: strings.Replace(conn.ClientURL(), "tls://", "nats://", 1), User: "svc", Password: "pw"}); err == nil {
		t.Error("a client without TLS connected")
	}
}
