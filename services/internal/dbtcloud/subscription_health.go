package dbtcloud

import (
	"fmt"
	"net/url"
	"strings"
)

// WebhookPath is the path the harvester's receiver serves; a subscription
// whose URL has it delivers to a harvester.
const WebhookPath = "/webhooks/dbt-cloud"

// Ours reports whether sub delivers to this harvester: to webhookURL, or,
// when it is empty, to any URL whose path is the receiver's.
func Ours(sub Subscription, webhookURL string) bool {
	if webhookURL != "" {
		return SameURL(sub.ClientURL, webhookURL)
	}
	u, err := url.Parse(sub.ClientURL)
	return err == nil && strings.TrimSuffix(u.Path, "/") == WebhookPath
}

// SameURL compares two webhook URLs as dbt Cloud would deliver to them:
// scheme and host case-insensitively, a trailing slash ignored.
func SameURL(a, b string) bool {
	return canonicalURL(a) == canonicalURL(b)
}

func canonicalURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return strings.TrimSpace(s)
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u.String()
}

// Trouble says why dbt Cloud is not delivering to sub ("" when it is
// active): inactive, and the reason dbt Cloud gave if it deactivated it.
func Trouble(sub Subscription) string {
	if sub.Active {
		return ""
	}
	if sub.DeactivateReason != "" {
		s := "deactivated by dbt Cloud: " + sub.DeactivateReason
		if sub.HTTPStatusCode != "" && sub.HTTPStatusCode != "0" {
			s += fmt.Sprintf(" (last delivery answered %s)", sub.HTTPStatusCode)
		}
		return s
	}
	return "inactive"
}

// ReactivateFix is what to do about an inactive subscription to url.
func ReactivateFix(u string) string {
	return fmt.Sprintf("make sure the receiver answers at %s (`harvester doctor`), then reactivate the webhook: "+
		"`harvester webhook register --url %s` (or Account settings → Webhooks); "+
		"runs missed meanwhile are harvested by the reconciler or `harvester backfill`", u, u)
}
