package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
)

// checkSubscription finds the webhook subscriptions that deliver to us and
// checks that dbt Cloud sends them job.run.completed for the jobs in scope.
func checkSubscription(ctx context.Context, r *report, c *dbtcloud.Client, url string, jobs []dbtcloud.Job) {
	subs, err := c.ListSubscriptions(ctx)
	var api *dbtcloud.APIError
	switch {
	case errors.As(err, &api) && api.StatusCode == http.StatusForbidden:
		r.warn("webhook", "the token cannot read webhook subscriptions: "+detail(err),
			"check Account settings → Webhooks by hand, or give the token the Webhook (webhooks_only) permission set")
		return
	case err != nil:
		r.fail("webhook", detail(err), readFix(err, "Webhook"))
		return
	}
	target := url
	if target == "" {
		target = "https://<your host>" + dbtcloud.WebhookPath
	}
	var ours []dbtcloud.Subscription
	for _, s := range subs {
		if dbtcloud.Ours(s, url) {
			ours = append(ours, s)
		}
	}
	if len(ours) == 0 {
		where := url
		if where == "" {
			where = "a URL ending in " + dbtcloud.WebhookPath + " (pass --url to check the exact one)"
		}
		r.fail("webhook", fmt.Sprintf("no webhook subscription delivers to %s (%d in the account)", where, len(subs)),
			"harvester webhook register --url "+target)
		return
	}
	if len(ours) > 1 {
		r.warn("webhook", fmt.Sprintf("%d subscriptions deliver to this harvester: every run is delivered %d times (stored once)", len(ours), len(ours)),
			"keep one: harvester webhook delete --id ID")
	}
	for _, s := range ours {
		checkOne(r, s, jobs)
	}
}

// checkOne checks one subscription of ours.
func checkOne(r *report, s dbtcloud.Subscription, jobs []dbtcloud.Job) {
	name := fmt.Sprintf("subscription %s %q to %s", s.ID, s.Name, s.ClientURL)
	if trouble := dbtcloud.Trouble(s); trouble != "" {
		r.fail("webhook", name+" is "+trouble, dbtcloud.ReactivateFix(s.ClientURL))
		return
	}
	if !slices.Contains(s.EventTypes, dbtcloud.EventRunCompleted) {
		r.fail("webhook", fmt.Sprintf("%s does not send %s (only %s): no run is harvested from it", name,
			dbtcloud.EventRunCompleted, strings.Join(s.EventTypes, ", ")),
			fmt.Sprintf("harvester webhook register --url %s --events completed", s.ClientURL))
		return
	}
	if code, _ := strconv.Atoi(s.HTTPStatusCode); code != 0 && (code < 200 || code > 299) {
		r.warn("webhook", fmt.Sprintf("%s: the last delivery was answered %d", name, code), DeliveryFix(code))
		return
	}
	if missing := uncovered(s, jobs); len(missing) > 0 {
		r.warn("webhook", fmt.Sprintf("%s leaves out job(s) %s: their runs arrive only through the reconciler", name, describe(missing)),
			fmt.Sprintf("harvester webhook register --url %s --jobs %s (or no --jobs for every job)", s.ClientURL, jobList(s, missing)))
		return
	}
	scope := "every job"
	if len(s.JobIDs) > 0 {
		scope = fmt.Sprintf("jobs %v", s.JobIDs)
	}
	last := "never delivered yet"
	if s.HTTPStatusCode != "" && s.HTTPStatusCode != "0" {
		last = "last delivery answered " + s.HTTPStatusCode
	}
	r.pass("webhook", fmt.Sprintf("%s is active, sends %s for %s; %s", name, strings.Join(s.EventTypes, ", "), scope, last))
}

// uncovered lists the jobs in scope a job-scoped subscription leaves out.
func uncovered(s dbtcloud.Subscription, jobs []dbtcloud.Job) []named {
	if len(s.JobIDs) == 0 {
		return nil
	}
	var out []named
	for _, j := range jobs {
		if !slices.Contains(s.JobIDs, j.ID) {
			out = append(out, named{j.ID, j.Name})
		}
	}
	return out
}

func jobList(s dbtcloud.Subscription, missing []named) string {
	ids := slices.Clone(s.JobIDs)
	for _, m := range missing {
		ids = append(ids, m.id)
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

// DeliveryFix says what the receiver answering code to dbt Cloud means and what to do.
func DeliveryFix(code int) string {
	switch code {
	case 0:
		return "dbt Cloud could not reach the URL: it must be public, served over https (TLS in front of the receiver), and the receiver running"
	case http.StatusUnauthorized:
		return "the receiver rejects dbt Cloud's signature: set DBT_CLOUD_WEBHOOK_SECRET_FILE to the file `harvester webhook register` wrote (or re-register the webhook for a new secret), and restart"
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return "the URL does not reach the receiver: it must end in " + dbtcloud.WebhookPath
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return "the receiver or its NATS was down: check `harvester doctor`'s NATS lines and the receiver's logs"
	}
	return "check the receiver's logs and any proxy in front of it"
}
