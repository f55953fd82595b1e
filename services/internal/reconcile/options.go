package reconcile

import (
	"fmt"
	"strings"
	"time"
)

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
