package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/doctor"
)

// defaultSecretFile is where `webhook register` stores a new subscription's secret.
const defaultSecretFile = "./webhook-secret"

const webhookUsage = `webhook register --url URL [--jobs 1,2] [--events completed,errored,started] [--name N] [--secret-file PATH | --print-secret]
       harvester webhook list
       harvester webhook test [--id ID | --url URL]
       harvester webhook delete --id ID | --url URL
(every subcommand takes --account A when several accounts are configured)`

// runWebhook is `harvester webhook`: it manages the account's dbt Cloud
// webhook subscriptions through the v3 API.
func runWebhook(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: harvester "+webhookUsage)
		return errors.New("webhook: register, list, test or delete?")
	}
	sub := map[string]func(context.Context, []string, func(string) string, io.Writer, io.Writer) error{
		"register": webhookRegister, "list": webhookList, "test": webhookTest, "delete": webhookDelete,
	}[args[0]]
	if sub == nil {
		fmt.Fprintln(stderr, "usage: harvester "+webhookUsage)
		return fmt.Errorf("webhook: unknown subcommand %q", args[0])
	}
	return sub(ctx, args[1:], getenv, stdout, stderr)
}

// eventType maps an --events word to dbt's event type.
func eventType(word string) (string, bool) {
	switch word {
	case "completed":
		return dbtcloud.EventRunCompleted, true
	case "errored":
		return dbtcloud.EventRunErrored, true
	case "started":
		return dbtcloud.EventRunStarted, true
	}
	return "", false
}

func parseEvents(s string) ([]string, error) {
	var out []string
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(w), "job.run."))
		if w == "" {
			continue
		}
		e, ok := eventType(w)
		if !ok {
			return nil, fmt.Errorf("--events: %q is not completed, errored or started", w)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, errors.New("--events: name at least one of completed, errored, started")
	}
	return out, nil
}

// checkHookURL rejects what dbt Cloud cannot deliver to, and warns about a
// URL the receiver does not serve.
func checkHookURL(raw string, stderr io.Writer) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--url %q: want the receiver's public URL, e.g. https://harvester.example.com%s", raw, dbtcloud.WebhookPath)
	}
	if strings.TrimSuffix(u.Path, "/") != dbtcloud.WebhookPath {
		fmt.Fprintf(stderr, "warning: the receiver answers on %s; %s has path %q\n", dbtcloud.WebhookPath, raw, u.Path)
	}
	if u.Scheme == "http" {
		fmt.Fprintln(stderr, "warning: dbt Cloud delivers to public https URLs; http is for local simulators")
	}
	return nil
}

func webhookRegister(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhook register", webhookUsage, stderr)
	withConfig := configFlag(fs, getenv)
	hookURL := fs.String("url", getenv("HARVESTER_WEBHOOK_URL"), "the receiver's public URL, ending in "+dbtcloud.WebhookPath+" (env HARVESTER_WEBHOOK_URL)")
	jobs := fs.String("jobs", "", "comma-separated job IDs (default: every job of the account)")
	evs := fs.String("events", "completed", "comma-separated: completed (harvests), errored, started")
	name := fs.String("name", "dbt-harvester", "the subscription's name")
	secretFile := fs.String("secret-file", defaultSecretFile, "where to store a new subscription's secret (mode 0600)")
	printSecret := fs.Bool("print-secret", false, "print a new subscription's secret once instead of storing it")
	account := fs.Int64("account", 0, "dbt Cloud account ID (default: the only configured one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	getenv = withConfig()
	in := dbtcloud.SubscriptionInput{Name: *name, ClientURL: strings.TrimSpace(*hookURL), Active: true,
		Description: "dbt metadata harvester: job run webhooks to NATS"}
	var err error
	if in.JobIDs, err = parseIDs(*jobs); err != nil {
		return fmt.Errorf("--jobs: %w", err)
	}
	if in.EventTypes, err = parseEvents(*evs); err != nil {
		return err
	}
	if in.ClientURL == "" {
		fs.Usage()
		return errors.New("webhook register: --url is required")
	}
	if err := checkHookURL(in.ClientURL, stderr); err != nil {
		return err
	}
	_, c, err := accountClient(getenv, *account)
	if err != nil {
		return err
	}
	subs, err := c.ListSubscriptions(ctx)
	if err != nil {
		return err
	}
	if existing := sameURL(subs, in.ClientURL); len(existing) > 0 {
		return updateSubscription(ctx, c, existing, in, *secretFile, *printSecret, stdout, stderr)
	}
	s, err := c.CreateSubscription(ctx, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created webhook subscription %s %q: %s for %s → %s\n", s.ID, s.Name,
		strings.Join(s.EventTypes, ", "), jobsText(s.JobIDs), s.ClientURL)
	return keepSecret(s, *secretFile, *printSecret, stdout)
}

// updateSubscription updates (and reactivates) the first subscription to
// the URL; dbt Cloud keeps its secret and does not show it again.
func updateSubscription(ctx context.Context, c *dbtcloud.Client, existing []dbtcloud.Subscription, in dbtcloud.SubscriptionInput,
	secretFile string, printSecret bool, stdout, stderr io.Writer) error {
	s, err := c.UpdateSubscription(ctx, existing[0].ID, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "updated webhook subscription %s %q (same URL, not duplicated): %s for %s → %s, active\n", s.ID, s.Name,
		strings.Join(s.EventTypes, ", "), jobsText(s.JobIDs), s.ClientURL)
	for _, other := range existing[1:] {
		fmt.Fprintf(stderr, "warning: subscription %s also delivers to %s; remove it with `harvester webhook delete --id %s`\n",
			other.ID, other.ClientURL, other.ID)
	}
	where := "the secret you saved when it was created"
	if fi, err := os.Stat(secretFile); err == nil && fi.Mode().IsRegular() {
		where = secretFile + " (written when it was registered)"
	}
	if printSecret {
		fmt.Fprintln(stderr, "note: --print-secret: dbt Cloud shows a secret only when it creates the subscription")
	}
	fmt.Fprintf(stdout, "its secret is unchanged (dbt Cloud returns it only on creation): the receiver keeps using %s via DBT_CLOUD_WEBHOOK_SECRET_FILE; "+
		"for a new secret, `harvester webhook delete --id %s` and register again\n", where, s.ID)
	return nil
}

// keepSecret stores a new subscription's secret in path (mode 0600) or
// prints it once.
func keepSecret(s dbtcloud.Subscription, path string, print bool, stdout io.Writer) error {
	secret := s.HMACSecret.Reveal()
	switch {
	case secret == "":
		fmt.Fprintln(stdout, "dbt Cloud returned no secret: copy it from Account settings → Webhooks into DBT_CLOUD_WEBHOOK_SECRET_FILE's file")
		return nil
	case print:
		fmt.Fprintf(stdout, "secret (shown once, dbt Cloud will not show it again): %s\n", secret)
		fmt.Fprintln(stdout, "give it to the receiver as DBT_CLOUD_WEBHOOK_SECRET (or in a file named by DBT_CLOUD_WEBHOOK_SECRET_FILE)")
		return nil
	}
	if err := writeSecret(path, secret); err != nil {
		return fmt.Errorf("subscription %s was created, but its secret could not be stored (delete and register again): %w", s.ID, err)
	}
	abs, _ := filepath.Abs(path)
	fmt.Fprintf(stdout, "stored its secret in %s (mode 0600); run the receiver with DBT_CLOUD_WEBHOOK_SECRET_FILE=%s (restart it if it runs)\n",
		path, cmp.Or(abs, path))
	return nil
}

// writeSecret replaces path's content with secret atomically, mode 0600.
func writeSecret(path, secret string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".webhook-secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, nothing is left to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := io.WriteString(f, secret+"\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func sameURL(subs []dbtcloud.Subscription, u string) []dbtcloud.Subscription {
	var out []dbtcloud.Subscription
	for _, s := range subs {
		if dbtcloud.SameURL(s.ClientURL, u) {
			out = append(out, s)
		}
	}
	return out
}

func jobsText(ids []int64) string {
	if len(ids) == 0 {
		return "every job"
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return "jobs " + strings.Join(parts, ",")
}

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

// findSubscriptions picks subscriptions by ID or by URL.
func findSubscriptions(ctx context.Context, c *dbtcloud.Client, id, u string) ([]dbtcloud.Subscription, error) {
	if id != "" {
		s, err := c.GetSubscription(ctx, id)
		if err != nil {
			return nil, err
		}
		return []dbtcloud.Subscription{s}, nil
	}
	subs, err := c.ListSubscriptions(ctx)
	if err != nil {
		return nil, err
	}
	found := sameURL(subs, u)
	if len(found) == 0 {
		return nil, fmt.Errorf("no webhook subscription delivers to %s (see `harvester webhook list`)", u)
	}
	return found, nil
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
	subs, err := findSubscriptions(ctx, c, *id, *hookURL)
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
	subs, err := findSubscriptions(ctx, c, *id, *hookURL)
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
