package chaos

import (
	"testing"
	"time"
)

// untilSince sleeps until d after start.
func untilSince(start time.Time, d time.Duration) {
	time.Sleep(time.Until(start.Add(d)))
}

// issue14Hooks are 100 runs' completed webhooks plus 20 redeliveries of the
// first 20 (same eventId and body), interleaved.
func issue14Hooks(first int64) []*webhook {
	var hooks, originals []*webhook
	for i := range 100 {
		w := completedWebhook(first + int64(i))
		hooks, originals = append(hooks, w), append(originals, w)
		if i%5 == 4 { // a redelivery of a webhook of this group of five
			d := originals[i-2]
			hooks = append(hooks, &webhook{run: d.run, eventID: d.eventID, body: d.body})
		}
	}
	return hooks
}

// Issue 14, as filed: a 3-node cluster (replicas 3), two of each service,
// 100 runs and 120 signed webhooks (20 redelivered) over both receivers;
// 4 s in, SIGKILL of NATS node 1; 2 s later SIGKILL of fetcher 1 and
// normalizer 1; 8 s later node 1 restarted. Every run whose webhook got a
// 2xx is harvested exactly once within 60 s after the node returns.
func TestNodeAndServicesKilledNodeReturns(t *testing.T) {
	runIssue14(t, true)
}

// The same with node 1 left down: quorum is two of three, so the pipeline
// goes on; every 2xx'd run harvested once within 60 s of the last kill.
func TestNodeAndServicesKilledNodeStaysDown(t *testing.T) {
	runIssue14(t, false)
}

func runIssue14(t *testing.T, restart bool) {
	h := newHarness(t, 3, world(t, runSpecs(1001, 100)))
	h.startServices(2)
	hooks := issue14Hooks(1001)
	ctx := t.Context()
	start := time.Now()
	l := h.sendAll(ctx, hooks, 12*time.Second)
	untilSince(start, 4*time.Second)
	h.killNode(0)
	untilSince(start, 6*time.Second)
	h.killProc("fetcher-1")
	h.killProc("normalizer-1")
	from := time.Now()
	name := "issue 14: node 1 down for good"
	if restart {
		name = "issue 14: node 1 back after 8 s"
		untilSince(start, 14*time.Second)
		from = time.Now()
		h.restartNode(0)
	}
	l.wait()
	o, took := h.waitOutcome(l.accepted(), from, from.Add(60*time.Second), false)
	h.check(name, l, o, took, false)
	if took > 60*time.Second {
		t.Errorf("harvests took %s after the node returned, want within 60s", took)
	}
	h.alive()
	h.scanSecrets()
}
