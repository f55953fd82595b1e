package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/gen"
)

// runDemo runs the whole pipeline on this machine: it generates a dbt
// project's artifacts, starts `harvester serve` (embedded NATS) and
// `harvester devcloud` (the dbt Cloud simulator) as child processes, lets the
// simulator deliver the signed webhooks, and prints the harvested metadata as
// it arrives on NATS. It exits 0 once the harvest completed.
func runDemo(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "./demo", "working folder: generated artifacts, NATS store, logs (emptied first)")
	models := fs.Int("models", 40, "models in the generated project")
	show := fs.Int("show", 3, "asset events of each resource type to print")
	timeout := fs.Duration("timeout", 50*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: find own binary: %w", err)
	}
	if err := os.RemoveAll(*dir); err != nil {
		return fmt.Errorf("demo: clear %s: %w", *dir, err)
	}
	target := filepath.Join(*dir, "target")
	sum, err := gen.Write(target, gen.DefaultOptions(*models))
	if err != nil {
		return fmt.Errorf("demo: generate project: %w", err)
	}
	fmt.Fprintf(stdout, "generated a dbt project in %s: %s\n", target, countsLine(sum.Counts))

	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	apiURL := "http://127.0.0.1:" + ports[0]
	hookURL := "http://127.0.0.1:" + ports[1] + "/webhooks/dbt-cloud"
	natsURL := "nats://127.0.0.1:" + ports[2]
	const token, secret = "demo-api-token", "demo-webhook-secret"

	serve, err := startChild(ctx, self, filepath.Join(*dir, "serve.log"), []string{"serve"}, map[string]string{
		"DBT_CLOUD_ACCESS_URL": apiURL, "DBT_CLOUD_ACCOUNT_ID": "1", "DBT_CLOUD_API_TOKEN": token,
		"DBT_CLOUD_WEBHOOK_SECRET": secret, "HARVESTER_HTTP_ADDR": "127.0.0.1:" + ports[1],
		"HARVESTER_STORE_DIR": filepath.Join(*dir, "data"), "HARVESTER_NATS_LISTEN": "127.0.0.1:" + ports[2], "NATS_URL": "",
	})
	if err != nil {
		return err
	}
	defer serve.stop()
	fmt.Fprintf(stdout, "started harvester serve: webhooks on %s, NATS on %s (log %s)\n", hookURL, natsURL, serve.log)
	if err := waitReady(ctx, "http://127.0.0.1:"+ports[1]+"/readyz", serve); err != nil {
		return err
	}
	nc, err := nats.Connect(natsURL, nats.Name("demo-subscriber"))
	if err != nil {
		return fmt.Errorf("demo: connect to %s: %w", natsURL, err)
	}
	defer nc.Close()
	sub, err := subscribe(ctx, nc)
	if err != nil {
		return err
	}
	defer sub.Stop()

	cloud, err := startChild(ctx, self, filepath.Join(*dir, "devcloud.log"), []string{"devcloud",
		"--listen", "127.0.0.1:" + ports[0], "--artifacts", target, "--webhook-url", hookURL}, map[string]string{
		"DBT_CLOUD_API_TOKEN": token, "DBT_CLOUD_WEBHOOK_SECRET": secret,
	})
	if err != nil {
		return err
	}
	defer cloud.stop()
	fmt.Fprintf(stdout, "started harvester devcloud (the dbt Cloud simulator) on %s; it now sends the signed job.run.started and job.run.completed webhooks\n\n", apiURL)
	return printHarvest(ctx, sub, stdout, *show, serve, cloud)
}

func countsLine(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	return strings.Join(parts, ", ")
}

// freePorts asks the kernel for n free loopback ports.
func freePorts(n int) ([]string, error) {
	var ports []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("demo: find a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

type child struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func startChild(ctx context.Context, bin, logPath string, args []string, env map[string]string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("demo: start %s: %w", args[0], err)
	}
	c := &child{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait(); logFile.Close() }()
	return c, nil
}

// stop asks the child to shut down gracefully, then kills it after 15s.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done: //nolint:errcheck // how a child asked to stop exits is not news
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done //nolint:errcheck // as above
	}
	c.done <- nil // later stops return at once
}

func (c *child) exited() error {
	select {
	case err := <-c.done:
		c.done <- err
		return fmt.Errorf("%s exited early (%v); see %s", c.cmd.Args[1], err, c.log)
	default:
		return nil
	}
}

func waitReady(ctx context.Context, url string, c *child) error {
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := c.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: harvester serve not ready: %w (see %s)", ctx.Err(), c.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// subscribe reads DBT_METADATA from its start with an ordered consumer, as any
// subscriber would.
func subscribe(ctx context.Context, nc *nats.Conn) (jetstream.MessagesContext, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cons, err := js.OrderedConsumer(ctx, events.StreamMetadata, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.MetadataSubjects}})
	if err != nil {
		return nil, fmt.Errorf("demo: subscribe to %s: %w", events.StreamMetadata, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("demo: subscribe to %s: %w", events.StreamMetadata, err)
	}
	return it, nil
}

func printHarvest(ctx context.Context, it jetstream.MessagesContext, w io.Writer, show int, children ...*child) error {
	stopOnDone := context.AfterFunc(ctx, it.Stop)
	defer stopOnDone()
	assets, perType := 0, map[string]int{}
	for {
		msg, err := it.Next()
		if err != nil {
			for _, c := range children {
				if cerr := c.exited(); cerr != nil {
					return cerr
				}
			}
			return fmt.Errorf("demo: no completed harvest: %w", errors.Join(err, ctx.Err()))
		}
		ev, err := events.Decode(msg.Data())
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		switch ev.Type() {
		case events.TypeAssetHarvested:
			assets++
			a, err := events.DataAs[events.Asset](ev)
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			perType[a.ResourceType]++
			switch n := perType[a.ResourceType]; {
			case a.ResourceType == "model" && n == 1:
				fmt.Fprintf(w, "%s  %s\n%s\n", msg.Subject(), ev.Type(), indent(ev.Data(), 3000))
			case n <= show:
				fmt.Fprintf(w, "%-45s %s\n", msg.Subject(), assetLine(a))
			case n == show+1:
				fmt.Fprintf(w, "%-45s ... more %s assets\n", msg.Subject(), a.ResourceType)
			}
		case events.TypeHarvestCompleted:
			fmt.Fprintf(w, "\n%s  %s (after %d asset events)\n%s\n", msg.Subject(), ev.Type(), assets, indent(ev.Data(), 4000))
			return nil
		case events.TypeHarvestFailed:
			fmt.Fprintf(w, "\n%s  %s\n%s\n", msg.Subject(), ev.Type(), indent(ev.Data(), 4000))
			hf, _ := events.DataAs[events.HarvestFailed](ev)
			return fmt.Errorf("demo: harvest failed: %s", hf.Reason)
		}
	}
}

// assetLine is one line about an asset: what a catalog would show first.
func assetLine(a events.Asset) string {
	var b strings.Builder
	b.WriteString(a.UniqueID)
	if a.RelationName != "" {
		fmt.Fprintf(&b, "  %s", a.RelationName)
	}
	if len(a.Columns) > 0 {
		fmt.Fprintf(&b, "  %d columns", len(a.Columns))
	}
	if len(a.DependsOn) > 0 {
		fmt.Fprintf(&b, "  %d upstream", len(a.DependsOn))
	}
	if len(a.Tests) > 0 {
		fmt.Fprintf(&b, "  %d tests", len(a.Tests))
	}
	if a.Result != nil {
		fmt.Fprintf(&b, "  result %s in %.2fs", a.Result.Status, a.Result.ExecutionTime)
	}
	return b.String()
}

// indent pretty-prints JSON, cut at max bytes.
func indent(data []byte, max int) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "  ", "  "); err != nil {
		return string(data)
	}
	s := "  " + buf.String()
	if len(s) > max {
		return s[:max] + "\n  ... (cut)"
	}
	return s
}
