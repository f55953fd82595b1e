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
			hooks = append(hooks, originals[i-2].redelivery())
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
	t.Parallel()
	runIssue14(t, true)
}

// The same with node 1 left down: quorum is two of three, so the pipeline
// goes on; every 2xx'd run harvested once within 60 s of the moment the
// node would have returned (14 s in).
func TestNodeAndServicesKilledNodeStaysDown(t *testing.T) {
	t.Parallel()
	runIssue14(t, false)
}

func runIssue14(t *testing.T, restart bool) {
	h := newHarness(t, 3, world(t, runSpecs(1001, 120)))
	// A killed service's message comes back only after its ack wait: the
	// default 1 m, counted from the kill 8 s before the node returns, leaves
	// too little of the 60 s on a loaded machine.
	h.startServices(2, "HARVESTER_FETCHER_ACK_WAIT=30s", "HARVESTER_NORMALIZER_ACK_WAIT=30s")
	hooks := issue14Hooks(1001)
	ctx := t.Context()
	start := time.Now()
	l := h.sendAll(ctx, hooks, 12*time.Second)
	untilSince(start, 4*time.Second)
	h.killNode(0)
	untilSince(start, 6*time.Second)
	h.killProc("fetcher-1")
	h.killProc("normalizer-1")
	// The 60 s count from 14 s in: when node 1 returns, or, left down, when
	// it would have returned.
	untilSince(start, 14*time.Second)
	from := time.Now()
	name := "issue 14: node 1 down for good"
	if restart {
		name = "issue 14: node 1 back after 8 s"
		h.restartNode(0)
	}
	l.wait()
	o, took := h.waitOutcome(l.accepted(), from, from.Add(60*time.Second), false)
	h.check(name, l, o, took, false)
	if took > 60*time.Second {
		t.Errorf("harvests took %s after 14 s in (node 1 back or not), want within 60s", took)
	}
	h.alive()
	if !restart {
		h.quorumLoss(1101, 20)
	}
	h.scanSecrets()
}

// quorumLoss is issue 10's scenario 2 after issue 14's: with node 1 still
// down, node 2 is SIGKILLed too, so no write can reach a quorum; n
// webhooks (runs first, first+1, ...) come meanwhile. Every answer given
// while the quorum is lost is a 503 (never a 2xx: nothing is stored), and
// dbt Cloud's retries land once node 2 is back: every run harvested once.
func (h *harness) quorumLoss(first int64, n int) {
	t := h.t
	h.killNode(1)
	var hooks []*webhook
	for i := range n {
		hooks = append(hooks, completedWebhook(first+int64(i)))
	}
	start := time.Now()
	l := h.sendAll(t.Context(), hooks, 2*time.Second)
	untilSince(start, 8*time.Second)
	back := time.Now()
	h.restartNode(1)
	l.wait()
	answered := 0
	for _, w := range hooks {
		for i, code := range w.codes {
			if w.ended[i].After(back) {
				continue
			}
			answered++
			if code != 503 {
				t.Errorf("webhook %s (run %d) answered %d while no quorum, want 503", w.eventID, w.run, code)
			}
		}
	}
	if answered < n {
		t.Errorf("only %d answers came while the quorum was lost, want at least one per webhook (%d)", answered, n)
	}
	o, took := h.waitOutcome(l.accepted(), back, back.Add(60*time.Second), false)
	r := h.check("node 2 of 3 down too: no quorum, then back", l, o, took, false)
	if r.ok2xx != n {
		t.Errorf("%d of %d webhooks got a 2xx after the quorum came back, want all (dbt's retries)", r.ok2xx, n)
	}
	t.Logf("no quorum: %d answers, all 503", answered)
	h.alive()
}
