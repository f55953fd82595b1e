package dbtcloud

import (
	"context"
	"fmt"
)

// SubscriptionsTo are the subscriptions of subs that deliver to u (SameURL).
func SubscriptionsTo(subs []Subscription, u string) []Subscription {
	var out []Subscription
	for _, s := range subs {
		if SameURL(s.ClientURL, u) {
			out = append(out, s)
		}
	}
	return out
}

// FindSubscriptions reads the subscription with ID id, or else every
// subscription that delivers to u; finding none is an error.
func (c *Client) FindSubscriptions(ctx context.Context, id, u string) ([]Subscription, error) {
	if id != "" {
		s, err := c.GetSubscription(ctx, id)
		if err != nil {
			return nil, err
		}
		return []Subscription{s}, nil
	}
	subs, err := c.ListSubscriptions(ctx)
	if err != nil {
		return nil, err
	}
	found := SubscriptionsTo(subs, u)
	if len(found) == 0 {
		return nil, fmt.Errorf("no webhook subscription delivers to %s (see `harvester webhook list`)", u)
	}
	return found, nil
}
