package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// binDir holds the binaries TestMain built: nats-server, receiver, fetcher,
// normalizer. Empty when the chaos tests are off.
var binDir string

// chaosOn reports whether the chaos tests run (HARVESTER_CHAOS=1).
func chaosOn() bool { return os.Getenv("HARVESTER_CHAOS") == "1" }

func TestMain(m *testing.M) {
	if !chaosOn() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builds := [][]string{
		{"build", "-o", filepath.Join(dir, "nats-server"), "github.com/nats-io/nats-server/v2"},
		{"build", "-o", dir + string(os.PathSeparator), "github.com/dbt-harvester/harvester/services/receiver",
			"github.com/dbt-harvester/harvester/services/fetcher", "github.com/dbt-harvester/harvester/services/normalizer"},
	}
	for _, args := range builds {
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(args, " "), err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if err := writeReport(os.Getenv("HARVESTER_CHAOS_REPORT")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// harness is one chaos run: NATS servers, services, the simulator, and the
// webhooks sent. Every process writes its stderr to a file in dir; the
// secret scan reads them all.
type harness struct {
	t      *testing.T
	dir    string
	token  string
	secret string
	nodes  []*natsNode
	cloud  *devcloud.Server
	api    *httptest.Server
	hooks  []string // receivers' webhook URLs
	mu     sync.Mutex
	procs  map[string]*proc
	seq    int
	nc     *nats.Conn
	js     jetstream.JetStream
	client *http.Client
}

// natsNode is one nats-server process and the config it runs with.
type natsNode struct {
	name   string
	conf   string
	client int
	http   int
	p      *proc
}

// proc is a running child process; done closes when it has exited.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (n *natsNode) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.client) }

// newHarness starts the NATS servers (three from deploy/nats/cluster, or one
// from deploy/nats/single.conf) and the simulator serving cloud.
func newHarness(t *testing.T, nodes int, cloud devcloud.Config) *harness {
	t.Helper()
	if !chaosOn() {
		t.Skip("chaos tests run with HARVESTER_CHAOS=1 (make chaos)")
	}
	h := &harness{t: t, dir: t.TempDir(), token: "dbtc_chaos_" + randHex(12), secret: "whsec_chaos_" + randHex(16),
		procs: map[string]*proc{}, client: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(h.stopAll)
	t.Cleanup(func() {
		if t.Failed() {
			h.quitServices()
			h.dumpLogs()
		}
	})
	h.startNATS(nodes)
	cloud.Token = h.token
	srv, err := devcloud.New(cloud)
	if err != nil {
		t.Fatalf("devcloud.New: %v", err)
	}
	h.cloud, h.api = srv, httptest.NewServer(srv.Handler())
	t.Cleanup(h.api.Close)
	return h
}

// natsURL lists every node, as an operator's NATS_URL does.
func (h *harness) natsURL() string {
	urls := make([]string, len(h.nodes))
	for i, n := range h.nodes {
		urls[i] = n.url()
	}
	return strings.Join(urls, ",")
}

var storeDirLine = regexp.MustCompile(`(?m)^(\s*store_dir:\s*)\S+`)

// startNATS writes the deploy configs with free ports and temporary store
// directories, starts the servers, waits until each is healthy, and creates
// the topology (replicas 3 on a cluster).
func (h *harness) startNATS(count int) {
	t := h.t
	root := filepath.Join(corpus.RepoRoot(t), "deploy", "nats")
	files := []string{"cluster/nats-1.conf", "cluster/nats-2.conf", "cluster/nats-3.conf"}
	if count == 1 {
		files = []string{"single.conf"}
	}
	ports := freePorts(t, 3*len(files))
	var pairs []string
	for i := range files {
		pairs = append(pairs,
			"127.0.0.1:"+strconv.Itoa(4222+i), "127.0.0.1:"+strconv.Itoa(ports[3*i]),
			"127.0.0.1:"+strconv.Itoa(6222+i), "127.0.0.1:"+strconv.Itoa(ports[3*i+1]),
			"127.0.0.1:"+strconv.Itoa(8222+i), "127.0.0.1:"+strconv.Itoa(ports[3*i+2]))
	}
	moved := strings.NewReplacer(pairs...)
	for i, f := range files {
		text, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		store := filepath.Join(h.dir, fmt.Sprintf("nats-%d-store", i+1))
		conf := moved.Replace(string(text))
		conf = storeDirLine.ReplaceAllString(conf, "${1}"+strconv.Quote(store))
		path := filepath.Join(h.dir, fmt.Sprintf("nats-%d.conf", i+1))
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		opts, err := server.ProcessConfigFile(path) // the rewrite must have moved everything
		if err != nil {
			t.Fatalf("%s rewritten: %v", f, err)
		}
		if opts.Port != ports[3*i] || opts.HTTPPort != ports[3*i+2] || opts.StoreDir != store ||
			(count > 1 && opts.Cluster.Port != ports[3*i+1]) {
			t.Fatalf("%s: rewriting its ports and store_dir failed (client %d, http %d, route %d, store %s); the test expects the ports 4222-4224, 6222-6224, 8222-8224",
				f, opts.Port, opts.HTTPPort, opts.Cluster.Port, opts.StoreDir)
		}
		h.nodes = append(h.nodes, &natsNode{name: opts.ServerName, conf: path, client: ports[3*i], http: ports[3*i+2]})
	}
	for _, n := range h.nodes {
		h.startNode(n)
	}
	for _, n := range h.nodes {
		h.waitNodeHealthy(n, 60*time.Second)
	}
	nc, err := nats.Connect(h.natsURL(), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to %s: %v", h.natsURL(), err)
	}
	t.Cleanup(nc.Close)
	h.nc = nc
	h.js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err = topology.Ensure(ctx, h.js, topology.Config{Replicas: len(h.nodes)})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topology on %d nodes: %v", len(h.nodes), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (h *harness) startNode(n *natsNode) {
	n.p = h.start(n.name, exec.Command(filepath.Join(binDir, "nats-server"), "-c", n.conf))
}

// killNode SIGKILLs a node; restartNode starts it again with the same
// config and store, and waits until it is healthy (caught up).
func (h *harness) killNode(i int) {
	n := h.nodes[i]
	h.kill(n.p)
	n.p = nil
}

func (h *harness) restartNode(i int) {
	n := h.nodes[i]
	h.startNode(n)
	// Under a loaded CI machine a node that rejoins can take over a minute
	// to report every replica current; the scenario's own assertions (every
	// 2xx'd run harvested once, in bounded time) are what judge recovery.
	if !h.nodeHealthy(n, 2*time.Minute) {
		h.t.Logf("%s not yet healthy after 2m; the scenario goes on and its outcome decides", n.name)
	}
}

func (h *harness) waitNodeHealthy(n *natsNode, within time.Duration) {
	h.t.Helper()
	if !h.nodeHealthy(n, within) {
		h.t.Fatalf("%s not healthy after %s", n.name, within)
	}
}

// nodeHealthy polls the node's /healthz until it answers 200 or within passes.
func (h *harness) nodeHealthy(n *natsNode, within time.Duration) bool {
	u := fmt.Sprintf("http://127.0.0.1:%d/healthz", n.http)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := h.client.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

// serviceEnv is what every service process gets: the operator's settings
// for a cluster, the simulator as the account, and no reconciler (a lost
// webhook must show as lost, not be rescued by a listing).
func (h *harness) serviceEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"NATS_URL=" + h.natsURL(),
		"HARVESTER_STREAM_REPLICAS=" + strconv.Itoa(len(h.nodes)),
		"DBT_CLOUD_ACCESS_URL=" + h.api.URL, "DBT_CLOUD_ACCOUNT_ID=1",
		"DBT_CLOUD_API_TOKEN=" + h.token, "DBT_CLOUD_WEBHOOK_SECRET=" + h.secret,
		"HARVESTER_RECONCILE_INTERVAL=0",
	}
}

// startServices starts receivers, fetchers and normalizers (each `n` times)
// as processes named receiver-1, fetcher-2, ...; extra is added to their
// environment.
func (h *harness) startServices(n int, extra ...string) {
	for i := 1; i <= n; i++ {
		port := freePorts(h.t, 1)[0]
		cmd := exec.Command(filepath.Join(binDir, "receiver"))
		cmd.Env = append(append(h.serviceEnv(), extra...), "HARVESTER_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port))
		h.register(h.start(fmt.Sprintf("receiver-%d", i), cmd))
		h.hooks = append(h.hooks, fmt.Sprintf("http://127.0.0.1:%d/webhooks/dbt-cloud", port))
		h.waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
	}
	for _, kind := range []string{"fetcher", "normalizer"} {
		for i := 1; i <= n; i++ {
			h.startService(fmt.Sprintf("%s-%d", kind, i), kind, extra...)
		}
	}
}

func (h *harness) startService(name, kind string, extra ...string) {
	cmd := exec.Command(filepath.Join(binDir, kind))
	cmd.Env = append(h.serviceEnv(), extra...)
	h.register(h.start(name, cmd))
}

// register names a service process for killProc, alive and stopAll.
func (h *harness) register(p *proc) {
	h.mu.Lock()
	h.procs[p.name] = p
	h.mu.Unlock()
}

func (h *harness) waitHTTP(u string) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := h.client.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("%s not ready after 60s", u)
}

// start runs cmd with its stderr (and stdout) in dir/<name>.<n>.log.
func (h *harness) start(name string, cmd *exec.Cmd) *proc {
	h.t.Helper()
	h.mu.Lock()
	h.seq++
	logPath := filepath.Join(h.dir, fmt.Sprintf("%s.%d.log", name, h.seq))
	h.mu.Unlock()
	f, err := os.Create(logPath)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		h.t.Fatalf("start %s: %v", name, err)
	}
	f.Close() // the child holds its own descriptor
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// killProc SIGKILLs a service started under name.
func (h *harness) killProc(name string) {
	h.mu.Lock()
	p := h.procs[name]
	delete(h.procs, name)
	h.mu.Unlock()
	if p == nil {
		h.t.Fatalf("no process %s", name)
	}
	h.kill(p)
}

func (h *harness) kill(p *proc) {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// alive fails the test for every service process that has exited: a
// service that dies on a NATS failure is what issue 14 was.
func (h *harness) alive() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, p := range h.procs {
		select {
		case <-p.done:
			h.t.Errorf("%s exited (%v); see its log", name, p.err)
		default:
		}
	}
}

func (h *harness) stopAll() {
	h.mu.Lock()
	procs := h.procs
	h.procs = map[string]*proc{}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { h.kill(p) })
	}
	wg.Wait()
	for _, n := range h.nodes {
		h.kill(n.p)
	}
}

// logFiles are every process's log, in start order.
func (h *harness) logFiles() []string {
	files, _ := filepath.Glob(filepath.Join(h.dir, "*.log"))
	return files
}

// quitServices sends SIGQUIT to the services still running, so that each
// writes its goroutines' stacks to its log, and waits for them to exit.
func (h *harness) quitServices() {
	h.mu.Lock()
	procs := h.procs
	h.procs = map[string]*proc{}
	h.mu.Unlock()
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			h.kill(p)
		}
	}
}

// dumpLogs prints the last lines of every log when a test failed.
func (h *harness) dumpLogs() {
	if keep := os.Getenv("HARVESTER_CHAOS_LOGS"); keep != "" {
		dst := filepath.Join(keep, strings.ReplaceAll(h.t.Name(), "/", "_"))
		if err := os.MkdirAll(dst, 0o755); err == nil {
			for _, f := range h.logFiles() {
				if b, err := os.ReadFile(f); err == nil {
					_ = os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644)
				}
			}
			h.t.Logf("logs kept in %s", dst)
		}
	}
	for _, f := range h.logFiles() {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		h.t.Logf("--- %s (last %d lines)\n%s", filepath.Base(f), len(lines), strings.Join(lines, "\n"))
	}
}

// logLines calls fn for every line of every process log.
func (h *harness) logLines(fn func(file, line string)) error {
	for _, f := range h.logFiles() {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			fn(filepath.Base(f), sc.Text())
		}
		err = sc.Err()
		fh.Close()
		if err != nil {
			return err
		}
	}
	return nil
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
		_ = l.Close()
	}
	return ports
}
