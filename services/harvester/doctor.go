package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/doctor"
)

// runDoctor is `harvester doctor`: it checks every set-up step for each
// configured account, then NATS, one line each with the fix, and fails when
// any check fails.
func runDoctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", "doctor [--json] [--url OUR_WEBHOOK_URL]", stderr)
	withConfig := configFlag(fs, getenv)
	asJSON := fs.Bool("json", false, "print a JSON array of {account, check, status, detail, fix}")
	hookURL := fs.String("url", getenv("HARVESTER_WEBHOOK_URL"), "the receiver's public URL the webhook subscription must deliver to (env HARVESTER_WEBHOOK_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	getenv = withConfig()
	cfg, err := config.Load(getenv)
	var checks []doctor.Check
	if err != nil {
		checks = append(checks, doctor.Check{Check: "config", Status: doctor.Fail, Detail: err.Error(),
			Fix: "fix the environment or the HARVESTER_CONFIG file (README: Configuration); the checks below use what could be read"})
	}
	for _, w := range cfg.Warnings {
		checks = append(checks, doctor.Check{Check: "config", Status: doctor.Warn, Detail: w})
	}
	nats := cfg.NATS
	nats.URL = cmp.Or(nats.URL, defaultNATSURL)
	checks = append(checks, doctor.Run(ctx, doctor.Options{Accounts: cfg.Accounts, WebhookURL: *hookURL,
		NATS: nats, Topology: cfg.Topology})...)
	if *asJSON {
		err = printChecksJSON(stdout, checks)
	} else {
		err = printChecks(stdout, checks)
	}
	if err != nil {
		return err
	}
	if n := doctor.Failed(checks); n > 0 {
		return fmt.Errorf("doctor: %d check(s) failed", n)
	}
	return nil
}

func printChecksJSON(w io.Writer, checks []doctor.Check) error {
	if checks == nil {
		checks = []doctor.Check{}
	}
	b, err := json.MarshalIndent(checks, "", "  ")
	if err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printChecks writes one line per check: status, account ("-" for the
// NATS checks), check, detail and, for a warning or failure, the fix.
func printChecks(w io.Writer, checks []doctor.Check) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range checks {
		line := c.Detail
		if c.Fix != "" {
			line += " — fix: " + c.Fix
		}
		account := "account " + c.Account
		if c.Account == "" {
			account = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Status, account, c.Check, line)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	return nil
}
