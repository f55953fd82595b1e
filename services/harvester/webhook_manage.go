package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/doctor"
)

func webhookList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhook list", webhookUsage, stderr)
	withConfig := configFlag(fs, getenv)
	account := fs.Int64("account", 0, "dbt Cloud account ID (default: the only configured one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	getenv = withConfig()
	_, c, err := accountClient(getenv, *account)
	if err != nil {
		return err
	}
	subs, err := c.ListSubscriptions(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tURL\tEVENTS\tJOBS\tACTIVE\tLAST STATUS\tDEACTIVATE REASON")
	for _, s := range subs {
		jobs := strings.TrimPrefix(jobsText(s.JobIDs), "jobs ")
		if len(s.JobIDs) == 0 {
			jobs = "all"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\t%s\n", s.ID, s.Name, s.ClientURL, shortEvents(s.EventTypes), jobs,
			s.Active, lastStatus(s.HTTPStatusCode), cmp.Or(s.DeactivateReason, "-"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("webhook list: %w", err)
	}
	if len(subs) == 0 {
		fmt.Fprintln(stderr, "no webhook subscription: create one with `harvester webhook register --url https://<your host>"+dbtcloud.WebhookPath+"`")
	}
	return nil
}

func shortEvents(evs []string) string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = strings.TrimPrefix(e, "job.run.")
	}
	return strings.Join(out, ",")
}

func lastStatus(code string) string {
	if code == "" || code == "0" {
		return "never sent"
	}
	return code
}

func webhookDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhook delete", webhookUsage, stderr)
	withConfig := configFlag(fs, getenv)
	id := fs.String("id", "", "the subscription's ID (wsu_…)")
	hookURL := fs.String("url", "", "delete every subscription delivering to this URL")
	account := fs.Int64("account", 0, "dbt Cloud account ID (default: the only configured one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	getenv = withConfig()
	if (*id == "") == (*hookURL == "") {
		fs.Usage()
		return errors.New("webhook delete: give exactly one of --id and --url")
	}
	_, c, err := accountClient(getenv, *account)
	if err != nil {
		return err
	}
	subs, err := c.FindSubscriptions(ctx, *id, *hookURL)
	if err != nil {
		return err
	}
	for _, s := range subs {
		if err := c.DeleteSubscription(ctx, s.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted webhook subscription %s %q → %s\n", s.ID, s.Name, s.ClientURL)
	}
	return nil
}

func webhookTest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhook test", webhookUsage, stderr)
	withConfig := configFlag(fs, getenv)
	id := fs.String("id", "", "the subscription's ID (wsu_…)")
	hookURL := fs.String("url", getenv("HARVESTER_WEBHOOK_URL"), "the subscription delivering to this URL (env HARVESTER_WEBHOOK_URL)")
	account := fs.Int64("account", 0, "dbt Cloud account ID (default: the only configured one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	getenv = withConfig()
	if *id == "" && *hookURL == "" {
		fs.Usage()
		return errors.New("webhook test: give --id or --url")
	}
	_, c, err := accountClient(getenv, *account)
	if err != nil {
		return err
	}
	subs, err := c.FindSubscriptions(ctx, *id, *hookURL)
	if err != nil {
		return err
	}
	s := subs[0]
	res, err := c.TestSubscription(ctx, s.ID)
	if err != nil {
		return err
	}
	return reportTest(s, res, stdout)
}

// reportTest says whether the receiver accepted dbt Cloud's test delivery:
// it answers 202 to a webhook whose signature it verified.
func reportTest(s dbtcloud.Subscription, res dbtcloud.TestResult, stdout io.Writer) error {
	code, _ := strconv.Atoi(strings.TrimSpace(res.VerificationStatusCode))
	event := cmp.Or(res.EventID, "-")
	switch {
	case code >= 200 && code < 300:
		fmt.Fprintf(stdout, "accepted: dbt Cloud sent test delivery %s to %s and the receiver answered %d: signature verified, stored on DBT_RUNS "+
			"(the test run does not exist, so its harvest ends in a harvest.failed event that says so)\n", event, s.ClientURL, code)
		return nil
	case code == 0 && res.VerificationError == "":
		fmt.Fprintf(stdout, "sent: dbt Cloud sent test delivery %s to %s but did not report the answer; "+
			"see LAST STATUS in `harvester webhook list` or the receiver's log\n", event, s.ClientURL)
		return nil
	}
	detail := res.VerificationStatusCode
	if res.VerificationError != "" {
		detail = strings.TrimSpace(detail + " " + res.VerificationError)
	}
	fmt.Fprintf(stdout, "not accepted: dbt Cloud sent test delivery %s to %s and got %s\nfix: %s\n", event, s.ClientURL, detail, doctor.DeliveryFix(code))
	return fmt.Errorf("webhook test: the receiver did not accept dbt Cloud's test delivery (%s)", detail)
}
