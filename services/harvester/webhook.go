package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
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
