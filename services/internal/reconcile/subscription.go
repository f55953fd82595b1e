package reconcile

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/webhook"
)

// Ours reports whether sub delivers to this harvester: to webhookURL, or,
// when it is empty, to any URL whose path is the receiver's.
func Ours(sub dbtcloud.Subscription, webhookURL string) bool {
	if webhookURL != "" {
		return SameURL(sub.ClientURL, webhookURL)
	}
	u, err := url.Parse(sub.ClientURL)
	return err == nil && strings.TrimSuffix(u.Path, "/") == webhook.Path
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
func Trouble(sub dbtcloud.Subscription) string {
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

// OptionsFromEnv reads HARVESTER_RECONCILE_INTERVAL (default 10m; 0 turns
// the reconciler off), HARVESTER_RECONCILE_LOOKBACK (default 24h) and
// HARVESTER_WEBHOOK_URL (this harvester's public webhook URL).
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{Interval: 10 * time.Minute, Lookback: 24 * time.Hour, WebhookURL: strings.TrimSpace(getenv("HARVESTER_WEBHOOK_URL"))}
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{"HARVESTER_RECONCILE_INTERVAL", &o.Interval}, {"HARVESTER_RECONCILE_LOOKBACK", &o.Lookback}} {
		s := strings.TrimSpace(getenv(v.name))
		if s == "" {
			continue
		}
		if s == "0" {
			*v.dst = 0
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return o, fmt.Errorf("%s=%q: want a duration such as 10m (0 turns it off)", v.name, s)
		}
		*v.dst = d
	}
	return o, nil
}
