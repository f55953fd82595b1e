package deploytest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
)

func natsDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(corpus.RepoRoot(t), "deploy", "nats")
}

func load(t *testing.T, rel string) *server.Options {
	t.Helper()
	path := filepath.Join(natsDir(t), filepath.FromSlash(rel))
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("server.ProcessConfigFile(%s): %v", rel, err)
	}
	return opts
}

// clusterFiles are the cluster's configs, relative to deploy/nats.
func clusterFiles() []string {
	return []string{"cluster/nats-1.conf", "cluster/nats-2.conf", "cluster/nats-3.conf"}
}

func TestConfigsAreDurable(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(natsDir(t), "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob(filepath.Join(natsDir(t), "cluster", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	files = slices.DeleteFunc(files, func(f string) bool { return filepath.Base(f) == "auth.conf" }) // users only: auth_test.go
	if len(files) != 4 {
		t.Fatalf("found %d configs under deploy/nats, want single.conf and cluster/nats-{1,2,3}.conf", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(natsDir(t), f)
		t.Run(rel, func(t *testing.T) {
			opts := load(t, rel)
			if !opts.JetStream {
				t.Error("JetStream is off, want on")
			}
			if !opts.SyncAlways {
				t.Error("SyncAlways is false, want sync_interval: always (see ARCHITECTURE, Scale and failure)")
			}
			if opts.StoreDir == "" {
				t.Error("store_dir is empty, want an explicit JetStream directory")
			}
			if opts.MaxPayload != 0 {
				t.Errorf("max_payload = %d, want it left at the 1 MiB default", opts.MaxPayload)
			}
			if opts.HTTPPort == 0 {
				t.Error("no monitoring port (http)")
			}
			if opts.ServerName == "" {
				t.Error("server_name is empty")
			}
		})
	}
}

func TestClusterConfigsRouteToEachOther(t *testing.T) {
	clusterFiles := clusterFiles()
	nodes := make([]*server.Options, len(clusterFiles))
	for i, f := range clusterFiles {
		nodes[i] = load(t, f)
	}
	names := map[string]bool{}
	ports := map[int]string{}
	for i, o := range nodes {
		if o.Cluster.Name != nodes[0].Cluster.Name || o.Cluster.Name == "" {
			t.Errorf("%s: cluster name %q, want the same non-empty name on every node (%q)", clusterFiles[i], o.Cluster.Name, nodes[0].Cluster.Name)
		}
		if names[o.ServerName] {
			t.Errorf("%s: server_name %q is not unique", clusterFiles[i], o.ServerName)
		}
		names[o.ServerName] = true
		for _, p := range []int{o.Port, o.Cluster.Port, o.HTTPPort} {
			if other, dup := ports[p]; dup {
				t.Errorf("%s: port %d is also used by %s; the nodes must be able to share one machine", clusterFiles[i], p, other)
			}
			ports[p] = clusterFiles[i]
		}
		for j, peer := range nodes {
			if i == j {
				continue
			}
			want := net.JoinHostPort(peer.Cluster.Host, strconv.Itoa(peer.Cluster.Port))
			if !slices.ContainsFunc(o.Routes, func(u *url.URL) bool { return u.Host == want }) {
				t.Errorf("%s: routes %v do not name %s (%s)", clusterFiles[i], o.Routes, clusterFiles[j], want)
			}
		}
	}
	for i, o := range nodes {
		if o.StoreDir == "" || slices.ContainsFunc(nodes[i+1:], func(p *server.Options) bool { return p.StoreDir == o.StoreDir }) {
			t.Errorf("%s: store_dir %q must be set and differ from the other nodes'", clusterFiles[i], o.StoreDir)
		}
	}
}

// start runs a server from opts, moved onto free loopback ports and a
// temporary store directory, until the test ends.
func start(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.HTTPHost, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("server.NewServer(%s): %v", opts.ServerName, err)
	}
	go s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("%s not ready for connections after 10s", opts.ServerName)
	}
	return s
}

func TestSingleConfigStarts(t *testing.T) {
	s := start(t, load(t, "single.conf"))
	if !s.JetStreamEnabled() {
		t.Error("JetStream not enabled on the running server")
	}
	js := connect(t, s.ClientURL())
	storeOne(t, js, 1)
}

// TestClusterForms starts the three cluster configs in process, with their
// route ports moved to free ones, and stores a message on a stream with
// replicas 3, which needs all three servers to have formed one JetStream
// cluster.
func TestClusterForms(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the three-server cluster in -short mode")
	}
	clusterFiles := clusterFiles()
	nodes := make([]*server.Options, len(clusterFiles))
	routePorts := freePorts(t, len(nodes))
	for i, f := range clusterFiles {
		nodes[i] = load(t, f)
		nodes[i].Cluster.Host, nodes[i].Cluster.Port = "127.0.0.1", routePorts[i]
	}
	for i, o := range nodes { // the same topology as the files, on the new ports
		o.Routes = nil
		for j := range nodes {
			if j != i {
				o.Routes = append(o.Routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", routePorts[j])})
			}
		}
	}
	servers := make([]*server.Server, len(nodes))
	for i, o := range nodes {
		servers[i] = start(t, o)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !slices.ContainsFunc(servers, (*server.Server).JetStreamIsLeader) {
		if time.Now().After(deadline) {
			t.Fatal("no JetStream meta leader after 30s: the cluster did not form")
		}
		time.Sleep(100 * time.Millisecond)
	}
	js := connect(t, servers[0].ClientURL())
	storeOne(t, js, 3)
}

// storeOne creates a stream with the given replicas and stores one message,
// retrying while the cluster settles.
func storeOne(t *testing.T, js jetstream.JetStream, replicas int) {
	t.Helper()
	ctx := t.Context()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name: "DEPLOYTEST", Subjects: []string{"deploytest.>"}, Replicas: replicas,
			Storage: jetstream.FileStorage, Duplicates: time.Minute,
		})
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("CreateStream(replicas %d): %v", replicas, err)
	}
	for _, wantDup := range []bool{false, true} { // the second publish is a duplicate
		ack, err := js.Publish(ctx, "deploytest.x", []byte("{}"), jetstream.WithMsgID("deploytest/1"))
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if ack.Duplicate != wantDup {
			t.Errorf("Publish ack duplicate = %v, want %v", ack.Duplicate, wantDup)
		}
	}
}

func connect(t *testing.T, u string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(u)
	if err != nil {
		t.Fatalf("nats.Connect(%s): %v", u, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return js
}

// freePorts finds n free loopback TCP ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		if err := l.Close(); err != nil {
			t.Fatalf("close probe listener: %v", err)
		}
	}
	return ports
}
