package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/status"
)

// runStatus is `harvester status`: what the running pipeline holds and how
// its harvests and webhook subscriptions are doing.
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", "status [--json] [--url OUR_WEBHOOK_URL] [--nats-url URL]", stderr)
	withConfig := configFlag(fs, getenv)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	hookURL := fs.String("url", getenv("HARVESTER_WEBHOOK_URL"), "the receiver's public URL the subscriptions deliver to (env HARVESTER_WEBHOOK_URL)")
	natsURL := fs.String("nats-url", getenv("NATS_URL"), "NATS of the running pipeline (env NATS_URL, default "+defaultNATSURL+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(withConfig())
	if err != nil {
		return err
	}
	cfg.NATS.URL = *natsURL
	js, closeNATS, err := connectNATS(ctx, cfg, "harvester-status")
	if err != nil {
		return err
	}
	defer closeNATS()
	var clients []*dbtcloud.Client
	for _, a := range cfg.Accounts {
		c, err := newClient(a)
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	rep := status.Gather(ctx, status.Options{JS: js, Topology: cfg.Topology, Clients: clients, WebhookURL: *hookURL})
	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return printStatus(stdout, rep)
}

func printStatus(w io.Writer, r status.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tMESSAGES\tBYTES\tLAST")
	for _, s := range r.Streams {
		last := "-"
		if s.LastAt != nil {
			last = ago(r.At.Sub(*s.LastAt))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", s.Name, s.Messages, s.Bytes, last)
	}
	fmt.Fprintln(tw, "\nCONSUMER\tSTREAM\tPENDING\tIN FLIGHT\tREDELIVERED")
	for _, c := range r.Consumers {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", c.Name, c.Stream, c.Pending, c.InFlight, c.Redelivered)
	}
	fmt.Fprintln(tw, "\nENVIRONMENT\tLAST HARVEST\tRUN\tAGE\tDETAIL")
	for _, h := range r.LastHarvests {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", environment(h), h.Outcome, h.Run.RunID, ago(time.Duration(h.AgeSeconds)*time.Second), detail(h))
	}
	if len(r.LastHarvests) == 0 {
		fmt.Fprintln(tw, "(none yet)")
	}
	fmt.Fprintf(tw, "\nfailed harvests (the run's latest harvest failed): %d\n", r.FailedTotal)
	if len(r.Failed) > 0 {
		fmt.Fprintf(tw, "ENVIRONMENT\tRUN\tSTAGE\tAGE\tREASON\n")
	}
	for _, h := range r.Failed {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", environment(h), h.Run.RunID, h.Stage, ago(time.Duration(h.AgeSeconds)*time.Second), h.Reason)
	}
	fmt.Fprintln(tw, "\nWEBHOOK\tACCOUNT\tSTATE\tURL")
	for _, wh := range r.Webhooks {
		state := "active"
		if wh.Trouble != "" {
			state = wh.Trouble
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", cmp.Or(wh.ID, "-"), wh.Account, state, cmp.Or(wh.URL, "-"))
	}
	if len(r.Webhooks) == 0 {
		fmt.Fprintln(tw, "(no dbt Cloud account configured)")
	}
	for _, p := range r.Problems {
		fmt.Fprintf(tw, "\nPROBLEM: %s\n", p)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}

// environment names where a harvest ran: account/project/environment IDs, and the name when known.
func environment(h status.Harvest) string {
	s := fmt.Sprintf("%d/%d/%d", h.Run.AccountID, h.Run.ProjectID, h.Run.EnvironmentID)
	if h.EnvironmentName != "" {
		s += " (" + h.EnvironmentName + ")"
	}
	return s
}

func detail(h status.Harvest) string {
	if h.Outcome == "completed" {
		return fmt.Sprintf("%d assets, generation %d", h.Assets, h.Generation)
	}
	return strings.TrimSpace(h.Stage + ": " + h.Reason)
}

// ago is a duration rounded for people: 45s, 12m, 3h, 2d.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
