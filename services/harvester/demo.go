package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/proc"
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

	ports, err := proc.FreePorts(3)
	if err != nil {
		return err
	}
	apiURL := "http://127.0.0.1:" + ports[0]
	hookURL := "http://127.0.0.1:" + ports[1] + "/webhooks/dbt-cloud"
	natsURL := "nats://127.0.0.1:" + ports[2]
	const token, secret = "demo-api-token", "demo-webhook-secret"

	serve, err := proc.Start(self, filepath.Join(*dir, "serve.log"), []string{"serve"}, map[string]string{
		"DBT_CLOUD_ACCESS_URL": apiURL, "DBT_CLOUD_ACCOUNT_ID": "1", "DBT_CLOUD_API_TOKEN": token,
		"DBT_CLOUD_WEBHOOK_SECRET": secret, "HARVESTER_HTTP_ADDR": "127.0.0.1:" + ports[1],
		"HARVESTER_STORE_DIR": filepath.Join(*dir, "data"), "HARVESTER_NATS_LISTEN": "127.0.0.1:" + ports[2], "NATS_URL": "",
	})
	if err != nil {
		return err
	}
	defer serve.Stop(15 * time.Second)
	fmt.Fprintf(stdout, "started harvester serve: webhooks on %s, NATS on %s (log %s)\n", hookURL, natsURL, serve.Log())
	if err := proc.WaitReady(ctx, "http://127.0.0.1:"+ports[1]+"/readyz", serve); err != nil {
		return fmt.Errorf("demo: harvester serve: %w", err)
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

	cloud, err := proc.Start(self, filepath.Join(*dir, "devcloud.log"), []string{"devcloud",
		"--listen", "127.0.0.1:" + ports[0], "--artifacts", target, "--webhook-url", hookURL}, map[string]string{
		"DBT_CLOUD_API_TOKEN": token, "DBT_CLOUD_WEBHOOK_SECRET": secret,
	})
	if err != nil {
		return err
	}
	defer cloud.Stop(15 * time.Second)
	fmt.Fprintf(stdout, "started harvester devcloud (the dbt Cloud simulator) on %s; it now sends the signed job.run.started and job.run.completed webhooks\n\n", apiURL)
	return printHarvest(ctx, sub, stdout, *show, serve, cloud)
}
