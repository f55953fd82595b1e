package chaos

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
)

// Issue 10, scenario 1: 1,000 webhooks over 200 runs. Every run's started
// and completed events come from subscription A; runs 0-99 also from B and
// runs 50-149 from C (a second and third eventId for the same run): 800
// distinct events, plus 200 redeliveries (20%) of random ones, in random
// order over both receivers. Every distinct event is stored once, and every
// run harvested once.
func TestThousandWebhooks(t *testing.T) {
	t.Parallel()
	const first, runs = 2001, 200
	h := newHarness(t, 3, world(t, runSpecs(first, runs)))
	h.startServices(2)
	var distinct []*webhook
	for _, sub := range []struct {
		name     string
		from, to int
	}{{"wsu_a", 0, runs}, {"wsu_b", 0, 100}, {"wsu_c", 50, 150}} {
		for i := sub.from; i < sub.to; i++ {
			run := int64(first + i)
			distinct = append(distinct, runWebhook(run, "job.run.started", sub.name), runWebhook(run, "job.run.completed", sub.name))
		}
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 10))
	hooks := append([]*webhook{}, distinct...)
	for range 200 {
		hooks = append(hooks, distinct[rng.IntN(len(distinct))].redelivery())
	}
	rng.Shuffle(len(hooks), func(i, j int) { hooks[i], hooks[j] = hooks[j], hooks[i] })
	start := time.Now()
	l := h.sendAll(t.Context(), hooks, 15*time.Second)
	l.wait()
	o, took := h.waitOutcome(l.accepted(), start, start.Add(2*time.Minute), false)
	h.check("1,000 webhooks, 200 runs, 20% redelivered, 2nd/3rd eventIds", l, o, took, false)
	if len(l.accepted()) != runs {
		t.Errorf("%d runs had a 2xx'd completed webhook, want all %d", len(l.accepted()), runs)
	}
	for _, w := range distinct {
		if n := o.runEvents[w.eventID]; n != 1 {
			t.Errorf("event %s (run %d) is on %s %d times, want once", w.eventID, w.run, events.StreamRuns, n)
		}
	}
	h.alive()
	h.scanSecrets()
}

// Issue 10, scenario 3: under load, fetchers and normalizers are SIGKILLed
// at random moments (so, often mid-harvest) and replaced by new processes.
// Every run harvested exactly once. Ack waits are 10 s so that a killed
// process's message comes back quickly.
func TestServicesKilledAtRandom(t *testing.T) {
	t.Parallel()
	const first, runs = 3001, 80
	h := newHarness(t, 3, world(t, runSpecs(first, runs)))
	ackWaits := []string{"HARVESTER_FETCHER_ACK_WAIT=10s", "HARVESTER_NORMALIZER_ACK_WAIT=10s"}
	h.startServices(2, ackWaits...)
	var hooks []*webhook
	for i := range runs {
		hooks = append(hooks, completedWebhook(int64(first+i)))
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill schedule seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	start := time.Now()
	l := h.sendAll(t.Context(), hooks, 10*time.Second)
	live := map[string]string{"fetcher": "fetcher-1", "normalizer": "normalizer-1"}
	others := map[string]string{"fetcher": "fetcher-2", "normalizer": "normalizer-2"}
	kills := 0
	for i := range 6 {
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		kind := []string{"fetcher", "normalizer"}[i%2]
		victim := live[kind]
		if rng.IntN(2) == 0 {
			victim = others[kind]
		}
		h.killProc(victim)
		kills++
		next := kind + "-r" + string(rune('a'+i))
		h.startService(next, kind, ackWaits...)
		if live[kind] == victim {
			live[kind] = next
		} else {
			others[kind] = next
		}
	}
	l.wait()
	o, took := h.waitOutcome(l.accepted(), start, time.Now().Add(90*time.Second), false)
	h.check("fetchers and normalizers SIGKILLed at random (6 kills)", l, o, took, false)
	t.Logf("%d kills", kills)
	h.alive()
	h.scanSecrets()
}

// Issue 10, scenario 6: poison artifacts among good runs. A manifest that is
// valid JSON but no manifest (so the fetcher stores it) ends in one
// harvest.failed with a reason; a manifest of an unknown schema version is
// harvested with a warning naming it (the contract: nothing unknown is
// dropped silently, and the versions it can read are read); a model whose
// description alone is 1.5 MiB is harvested with no message over 1 MiB (the
// asset is offloaded to the object store). The consumers go on: every good
// run is harvested once.
func TestPoisonArtifacts(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	if _, err := gen.Write(base, gen.DefaultOptions(6)); err != nil {
		t.Fatal(err)
	}
	malformed := poisonDir(t, base, func([]byte) []byte { return []byte(`["not", "a", "manifest"]`) })
	unknown := poisonDir(t, base, func(b []byte) []byte {
		return bytes.Replace(b, []byte("/dbt/manifest/v12.json"), []byte("/dbt/manifest/v99.json"), 1)
	})
	huge := poisonDir(t, base, func(b []byte) []byte {
		i := bytes.Index(b, []byte(`"description": "`))
		if i < 0 {
			i = bytes.Index(b, []byte(`"description":"`))
		}
		if i < 0 {
			t.Fatal("no description in the generated manifest")
		}
		j := bytes.IndexByte(b[i:], ':') + i + 1
		for b[j] == ' ' {
			j++
		}
		return append(append(append([]byte{}, b[:j+1]...), bytes.Repeat([]byte("x"), 1536<<10)...), b[j+1:]...)
	})
	const first = 4001
	specs := runSpecs(first, 24)
	kinds := map[int64]string{}
	for i := range specs {
		switch i % 8 {
		case 1:
			specs[i].ArtifactsDir, kinds[specs[i].ID] = malformed, "malformed"
		case 3:
			specs[i].ArtifactsDir, kinds[specs[i].ID] = unknown, "unknown version"
		case 5:
			specs[i].ArtifactsDir, kinds[specs[i].ID] = huge, "oversized asset"
		}
	}
	h := newHarness(t, 3, world(t, specs))
	h.startServices(2)
	var hooks []*webhook
	for _, s := range specs {
		hooks = append(hooks, completedWebhook(s.ID))
	}
	start := time.Now()
	l := h.sendAll(t.Context(), hooks, 3*time.Second)
	l.wait()
	o, took := h.waitOutcome(l.accepted(), start, start.Add(90*time.Second), true)
	h.check("poison artifacts: malformed, unknown version, 1.5 MiB asset", l, o, took, true)
	for _, s := range specs {
		kind := kinds[s.ID]
		switch kind {
		case "malformed":
			if len(o.failed[s.ID]) != 1 || o.completed[s.ID][1] != 0 {
				t.Errorf("run %d (malformed manifest): %d harvest.failed, %d completed; want one harvest.failed", s.ID, len(o.failed[s.ID]), o.completed[s.ID][1])
			} else {
				t.Logf("malformed manifest: harvest.failed at %s: %s", o.failed[s.ID][0].Stage, o.failed[s.ID][0].Reason)
			}
		default:
			if o.completed[s.ID][1] != 1 {
				t.Errorf("run %d (%s): %d harvest.completed (failed: %v), want 1", s.ID, cmpOr(kind, "good"), o.completed[s.ID][1], o.failed[s.ID])
			}
		}
	}
	warned := false
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	msgs, err := h.collect(ctx, events.StreamMetadata, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range msgs {
		if len(data) > 1<<20 {
			t.Errorf("a DBT_METADATA message is %d bytes, over 1 MiB", len(data))
		}
		if bytes.Contains(data, []byte(events.TypeHarvestCompleted)) && bytes.Contains(data, []byte("v99")) {
			warned = true
		}
	}
	if !warned {
		t.Error("no harvest.completed names the unknown manifest version v99 in a warning")
	}
	h.alive()
	h.scanSecrets()
}

// poisonDir copies the generated project in base to a new folder with its
// manifest.json changed by edit.
func poisonDir(t *testing.T, base string, edit func([]byte) []byte) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir(base, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if rel == "manifest.json" {
			b = edit(b)
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Issue 10, scenario 5: dbt Cloud API faults on 30% of the runs: 429 with
// Retry-After, 503s, truncated artifact bodies, artifacts that appear late
// (404 for 20 s after the run completed), and for 2 runs 503 on every
// download (so their harvest must fail, with a reason, once the fetcher's
// deliveries are spent). Every run is harvested or has one harvest.failed
// with a reason, within 2 minutes. A 429 without Retry-After means dbt's
// five-minute cooldown for the whole account, longer than the whole chaos
// run: the fetchers run with HARVESTER_DBT_COOLDOWN=3s instead.
func TestAPIFaults(t *testing.T) {
	t.Parallel()
	const first, runs = 5001, 40
	specs := runSpecs(first, runs)
	faults := []devcloud.Faults{
		{RateLimit: 2, RetryAfter: 1},
		{RateLimit: 1},
		{Fail5xx: 3},
		{TruncateArtifacts: 2},
		{ArtifactDelay: 20 * time.Second},
		{Fail5xxRate: 0.2},
	}
	kinds := map[int64]string{}
	for i := range specs {
		if i%10 < 3 { // 30%
			f := faults[(i/10*3+i%10)%len(faults)]
			specs[i].Faults = f
			kinds[specs[i].ID] = faultName(f)
		}
	}
	for _, i := range []int{4, 14} { // never downloadable
		specs[i].Faults = devcloud.Faults{Fail5xx: 1000}
		kinds[specs[i].ID] = "503 on every download"
	}
	h := newHarness(t, 3, world(t, specs))
	env := []string{"HARVESTER_FETCHER_MAX_DELIVER=4", "HARVESTER_DBT_COOLDOWN=3s"}
	h.startServices(2, env...)
	var hooks []*webhook
	for _, s := range specs {
		hooks = append(hooks, completedWebhook(s.ID))
	}
	start := time.Now()
	l := h.sendAll(t.Context(), hooks, 5*time.Second)
	l.wait()
	o, took := h.waitOutcome(l.accepted(), start, start.Add(2*time.Minute), true)
	h.check("dbt API faults on 30% (429 with/without Retry-After, 5xx, truncated, late)", l, o, took, true)
	for _, i := range []int{4, 14} {
		id := specs[i].ID
		if len(o.failed[id]) != 1 {
			t.Errorf("run %d (503 on every download): %d harvest.failed, want 1", id, len(o.failed[id]))
		}
	}
	for id, kind := range kinds {
		if kind == "503 on every download" {
			continue
		}
		if o.completed[id][1] != 1 {
			t.Errorf("run %d (%s): not harvested once (failed: %v)", id, kind, o.failed[id])
		}
	}
	h.alive()
	h.scanSecrets()
}

func faultName(f devcloud.Faults) string {
	var parts []string
	switch {
	case f.RateLimit > 0 && f.RetryAfter > 0:
		parts = append(parts, "429 with Retry-After")
	case f.RateLimit > 0:
		parts = append(parts, "429 without Retry-After")
	case f.Fail5xx > 0:
		parts = append(parts, "503 on the first downloads")
	case f.TruncateArtifacts > 0:
		parts = append(parts, "truncated bodies")
	case f.ArtifactDelay > 0:
		parts = append(parts, "late artifacts")
	case f.Fail5xxRate > 0:
		parts = append(parts, "503 on a fifth of the requests")
	}
	return strings.Join(parts, ", ")
}

// Issue 10, scenario 4: one NATS server (deploy/nats/single.conf),
// SIGKILLed under webhook load and restarted 5 s later. While it is down
// the receivers answer 503 (or nothing); dbt Cloud's retries land after
// the restart, and every run whose webhook got a 2xx is harvested once.
func TestSingleNodeKilled(t *testing.T) {
	t.Parallel()
	const first, runs = 6001, 60
	h := newHarness(t, 1, world(t, runSpecs(first, runs)))
	h.startServices(2)
	var hooks []*webhook
	for i := range runs {
		hooks = append(hooks, completedWebhook(int64(first+i)))
	}
	start := time.Now()
	l := h.sendAll(t.Context(), hooks, 8*time.Second)
	untilSince(start, 3*time.Second)
	h.killNode(0)
	down := time.Now()
	untilSince(down, 5*time.Second)
	back := time.Now()
	h.restartNode(0)
	l.wait()
	for _, w := range hooks {
		for i, code := range w.codes {
			if w.ended[i].After(down) && w.ended[i].Before(back) && code >= 200 && code <= 299 {
				t.Errorf("webhook %s answered %d while the only NATS server was down", w.eventID, code)
			}
		}
	}
	o, took := h.waitOutcome(l.accepted(), back, back.Add(90*time.Second), false)
	r := h.check("single NATS server SIGKILLed 5 s under load", l, o, took, false)
	if r.ok2xx != len(hooks) {
		t.Errorf("%d of %d webhooks got a 2xx in the end, want all (dbt's retries after the restart)", r.ok2xx, len(hooks))
	}
	h.alive()
	h.scanSecrets()
}
