package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
)

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
	if existing := dbtcloud.SubscriptionsTo(subs, in.ClientURL); len(existing) > 0 {
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
	if err := config.WriteSecretFile(path, secret); err != nil {
		return fmt.Errorf("subscription %s was created, but its secret could not be stored (delete and register again): %w", s.ID, err)
	}
	abs, _ := filepath.Abs(path)
	fmt.Fprintf(stdout, "stored its secret in %s (mode 0600); run the receiver with DBT_CLOUD_WEBHOOK_SECRET_FILE=%s (restart it if it runs)\n",
		path, cmp.Or(abs, path))
	return nil
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
