package fetcher

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/config"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// Every failure of issue 4 against the simulator, through the consumer
// loop, with its defined outcome.

func TestRateLimitRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{cloud: devcloud.Config{RateLimit: 1, RetryAfter: 1}})
	h.complete(t, legacyRef, "Nightly production build")
	fetched, failed := h.outcome(t, legacyRef, 15*time.Second)
	if failed != nil {
		t.Fatalf("harvest failed: %+v", failed)
	}
	reqs := h.requests()
	if len(reqs) < 2 || reqs[0].status != http.StatusTooManyRequests {
		t.Fatalf("requests = %v, want a 429 first", reqs)
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("next request %s after the 429, want no sooner than Retry-After (1s)", gap)
	}
	if len(stored(fetched, events.ManifestJSON)) != 1 {
		t.Errorf("artifacts = %+v, want the manifest", fetched.Artifacts)
	}
}

func TestRateLimitCooldown(t *testing.T) {
	t.Parallel()
	const cooldown = 1200 * time.Millisecond
	h := newHarness(t, harnessOpts{cloud: devcloud.Config{RateLimit: 1}, client: dbtcloud.Options{Cooldown: cooldown}, noConsumer: true})
	req := Request{Ref: legacyRef, Generation: 1}
	_, err := h.f.Fetch(t.Context(), req)
	if d, ok := retry.Delay(err); !ok || d != cooldown {
		t.Fatalf("Fetch after a 429 without Retry-After = %v (delay %v), want retry.After(%v)", err, d, cooldown)
	}
	// Another request of the same account waits out the cooldown before it
	// reaches dbt Cloud, then succeeds.
	start := time.Now()
	if _, err := h.f.Fetch(t.Context(), Request{Ref: legacyRef, Generation: 2}); err != nil {
		t.Fatalf("second Fetch = %v", err)
	}
	reqs := h.requests()
	if gap := reqs[1].at.Sub(reqs[0].at); gap < cooldown-50*time.Millisecond {
		t.Errorf("the account's next request came %s after the 429, want the %s cooldown", gap, cooldown)
	}
	if time.Since(start) < cooldown-300*time.Millisecond {
		t.Errorf("second Fetch took %s, want it slowed by the cooldown", time.Since(start))
	}

	// With dbt's defaults the cooldown is five minutes.
	h2 := newHarness(t, harnessOpts{cloud: devcloud.Config{RateLimit: 1}, noConsumer: true})
	if _, err := h2.f.Fetch(t.Context(), req); err == nil {
		t.Fatal("Fetch = nil, want a 429")
	} else if d, _ := retry.Delay(err); d != dbtcloud.DefaultCooldown {
		t.Errorf("default cooldown = %v, want %v", d, dbtcloud.DefaultCooldown)
	}
}

func TestServerErrorsAndTimeoutsAreRetried(t *testing.T) {
	t.Parallel()
	t.Run("5xx", func(t *testing.T) {
		t.Parallel()
		// Five 503s: more than the client's three in-client attempts, so the
		// message is redelivered too.
		h := newHarness(t, harnessOpts{cloud: devcloud.Config{Fail5xx: 5}})
		h.complete(t, legacyRef, "x")
		fetched, failed := h.outcome(t, legacyRef, 20*time.Second)
		if failed != nil {
			t.Fatalf("harvest failed: %+v", failed)
		}
		if n := h.count("/artifacts/", http.StatusServiceUnavailable); n != 5 {
			t.Errorf("503s = %d, want 5", n)
		}
		if len(fetched.Artifacts) < 2 {
			t.Errorf("artifacts = %+v", fetched.Artifacts)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		hc := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 300 * time.Millisecond}}
		h := newHarness(t, harnessOpts{client: dbtcloud.Options{HTTP: hc, MaxAttempts: 1}})
		h.mu.Lock()
		h.stall["/runs/400/"] = 2 // the first two reads of the run hang past the timeout
		h.mu.Unlock()
		h.complete(t, legacyRef, "x")
		if _, failed := h.outcome(t, legacyRef, 20*time.Second); failed != nil {
			t.Fatalf("harvest failed: %+v", failed)
		}
	})
}

func TestAuthFailuresSayWhatToFix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cloud   devcloud.Config
		client  func(h *harness) dbtcloud.Options
		ref     events.RunRef
		wantFix string
	}{
		{"401 bad token", devcloud.Config{}, func(*harness) dbtcloud.Options { return dbtcloud.Options{Token: "wrong-token-sekrit"} },
			legacyRef, "token is invalid"},
		{"403 not scoped", devcloud.Config{}, func(*harness) dbtcloud.Options { return dbtcloud.Options{AccountID: 2} },
			events.RunRef{AccountID: 2, ProjectID: 100, EnvironmentID: 200, JobID: 300, RunID: 400}, "not scoped to account 2"},
		{"401 retired host", devcloud.Config{RetiredHost: true}, func(h *harness) dbtcloud.Options {
			return dbtcloud.Options{AccessURL: "http://cloud.getdbt.com", HTTP: dialTo(strings.TrimPrefix(h.api.URL, "http://"))}
		}, legacyRef, "retired shared host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{cloud: tt.cloud, noConsumer: true})
			// The client needs the harness's address: make it now, then consume.
			opts := tt.client(h)
			if opts.AccessURL == "" {
				opts.AccessURL = h.api.URL
			}
			opts.AccountID = max(opts.AccountID, 1)
			if opts.Token == "" {
				opts.Token = testToken
			}
			c, err := dbtcloud.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			h.f.Clients = map[int64]*dbtcloud.Client{opts.AccountID: c}
			h.consume(t)
			h.complete(t, tt.ref, "x")
			fetched, failed := h.outcome(t, tt.ref, 10*time.Second)
			if fetched != nil || failed == nil {
				t.Fatalf("outcome = %+v, want harvest.failed", fetched)
			}
			if failed.Stage != "fetch" || !strings.Contains(failed.Fix, tt.wantFix) {
				t.Errorf("harvest.failed = stage %q fix %q, want fix %q", failed.Stage, failed.Fix, tt.wantFix)
			}
			raw := string(h.last(t, events.StreamMetadata, events.HarvestSubject(tt.ref)))
			if strings.Contains(raw, "sekrit") || strings.Contains(raw, testToken) {
				t.Errorf("the event shows the token: %s", raw)
			}
			if n := len(h.requests()); n != 1 {
				t.Errorf("requests = %d, want 1 (permanent: no retry)", n)
			}
		})
	}
}

func TestTruncatedAndCorruptDownloads(t *testing.T) {
	t.Parallel()
	t.Run("truncated once, then whole", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{cloud: devcloud.Config{TruncateArtifacts: 1}})
		h.complete(t, legacyRef, "x")
		fetched, failed := h.outcome(t, legacyRef, 15*time.Second)
		if failed != nil {
			t.Fatalf("harvest failed: %+v", failed)
		}
		m := stored(fetched, events.ManifestJSON)[0]
		fi, err := os.Stat(filepath.Join(h.dir, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		if m.Size != fi.Size() {
			t.Errorf("stored manifest %d bytes, want %d", m.Size, fi.Size())
		}
	})
	t.Run("always truncated", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{cloud: devcloud.Config{TruncateArtifacts: 1000}})
		h.complete(t, legacyRef, "x")
		_, failed := h.outcome(t, legacyRef, 15*time.Second)
		if failed == nil || !strings.Contains(failed.Reason, "truncated or corrupt") || !strings.Contains(failed.Fix, "truncated") {
			t.Fatalf("harvest.failed = %+v, want the truncated download as the reason", failed)
		}
		t.Logf("reason: %s", failed.Reason)
		if !regexp.MustCompile(`cut at byte \d+ of \d+`).MatchString(failed.Reason) || !strings.Contains(failed.Reason, "3 downloads in a row") {
			t.Errorf("harvest.failed reason = %q, want the byte the download was cut at and the 3 downloads", failed.Reason)
		}
		if n := h.count("manifest.json", http.StatusOK); n != CorruptAttempts {
			t.Errorf("manifest downloads = %d, want %d: a permanent failure, not one retry per delivery", n, CorruptAttempts)
		}
	})
	t.Run("corrupt JSON of the right length", func(t *testing.T) {
		t.Parallel()
		dir := artifactsDir(t, 5, nil)
		p := filepath.Join(dir, "manifest.json")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		copy(b[len(b)/2:], `"]]]]`)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, harnessOpts{cloud: devcloud.Config{ArtifactsDir: dir}})
		h.complete(t, legacyRef, "x")
		_, failed := h.outcome(t, legacyRef, 15*time.Second)
		if failed == nil || !strings.Contains(failed.Reason, "manifest.json") || !strings.Contains(failed.Reason, "truncated or corrupt") {
			t.Fatalf("harvest.failed = %+v, want the corrupt manifest as the reason", failed)
		}
		t.Logf("reason: %s", failed.Reason)
		if want := fmt.Sprintf("(at byte %d)", len(b)/2+1); !strings.Contains(failed.Reason, want) {
			t.Errorf("harvest.failed reason = %q, want the byte the JSON breaks at %s", failed.Reason, want)
		}
		if n := h.count("manifest.json", http.StatusOK); n != CorruptAttempts {
			t.Errorf("manifest downloads = %d, want %d (then permanent, not retried until MaxDeliver %d)", n, CorruptAttempts, maxDeliver)
		}
		if _, err := h.f.Store.GetInfo(t.Context(), events.ObjectKey(1, 400, 5, events.ManifestJSON)); err == nil {
			t.Error("the corrupt manifest is visible in the object store")
		}
	})
}

func TestArtifactsLate(t *testing.T) {
	t.Parallel()
	dir := artifactsDir(t, 6, nil)
	world := []devcloud.AccountSpec{{ID: 1, Projects: []devcloud.ProjectSpec{{ID: 100, Name: "analytics", Environments: []devcloud.EnvironmentSpec{{
		ID: 200, Name: "Production", Jobs: []devcloud.JobSpec{{ID: 300, Name: "Nightly", GenerateDocs: true, RunGenerateSources: true, ArtifactsDir: dir}},
	}}}}}}
	h := newHarness(t, harnessOpts{cloud: devcloud.Config{Accounts: world}, notReady: 700 * time.Millisecond})
	id := h.cloud.AddRun(devcloud.RunSpec{JobID: 300, Faults: devcloud.Faults{ArtifactDelay: 1500 * time.Millisecond}})
	if id == 0 {
		t.Fatal("AddRun failed")
	}
	if err := h.cloud.CompleteRun(t.Context(), id, 10); err != nil {
		t.Logf("CompleteRun: %v (no subscription; the test posts the webhook)", err)
	}
	ref := events.RunRef{AccountID: 1, ProjectID: 100, EnvironmentID: 200, JobID: 300, RunID: id}
	h.complete(t, ref, "Nightly")
	fetched, failed := h.outcome(t, ref, 20*time.Second)
	if failed != nil {
		t.Fatalf("harvest failed: %+v", failed)
	}
	if h.count("manifest.json", http.StatusNotFound) == 0 {
		t.Error("no 404 before the artifacts appeared: the fault did not fire")
	}
	if len(stored(fetched, events.ManifestJSON)) != 1 || len(stored(fetched, events.CatalogJSON)) != 1 {
		t.Errorf("artifacts = %+v, want manifest and catalog once present", fetched.Artifacts)
	}
}

func TestStepChoice(t *testing.T) {
	t.Parallel()
	t.Run("build step's results, not docs generate's", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{})
		h.complete(t, legacyRef, "x")
		fetched, failed := h.outcome(t, legacyRef, 10*time.Second)
		if failed != nil {
			t.Fatalf("harvest failed: %+v", failed)
		}
		rr := stored(fetched, events.RunResultsJSON)
		if len(rr) != 1 || rr[0].Command != "build" || rr[0].Step != 5 {
			t.Fatalf("run_results = %+v, want one from step 5 (build)", rr)
		}
		var doc struct {
			Results []struct {
				UniqueID      string  `json:"unique_id"`
				Status        string  `json:"status"`
				ExecutionTime float64 `json:"execution_time"`
			} `json:"results"`
			Args struct{ Which string } `json:"args"`
		}
		h.object(t, rr[0].Key, &doc)
		if doc.Args.Which != "build" || len(doc.Results) == 0 || doc.Results[0].ExecutionTime <= 0 {
			t.Errorf("stored run_results: which %q, %d results, first %+v; want the build's timed results", doc.Args.Which, len(doc.Results), doc.Results)
		}
		if c := stored(fetched, events.CatalogJSON); len(c) != 1 || c[0].Step != 6 {
			t.Errorf("catalog = %+v, want step 6 (docs generate)", c)
		}
		if s := stored(fetched, events.SourcesJSON); len(s) != 1 || s[0].Step != 4 {
			t.Errorf("sources = %+v, want step 4 (source freshness)", s)
		}
		if len(fetched.Warnings) != 0 {
			t.Errorf("warnings = %q, want none", fetched.Warnings)
		}
		if fetched.Run.Status != "Success" {
			t.Errorf("run status = %q", fetched.Run.Status)
		}
	})
	t.Run("several command steps", func(t *testing.T) {
		t.Parallel()
		dir := artifactsDir(t, 6, nil)
		world := []devcloud.AccountSpec{{ID: 1, Projects: []devcloud.ProjectSpec{{ID: 100, Environments: []devcloud.EnvironmentSpec{{
			ID: 200, Jobs: []devcloud.JobSpec{{ID: 300, ExecuteSteps: []string{"dbt seed", "dbt run", "dbt test"}, GenerateDocs: true,
				ArtifactsDir: dir, Runs: []devcloud.RunSpec{{ID: 400}}}},
		}}}}}}
		h := newHarness(t, harnessOpts{cloud: devcloud.Config{Accounts: world}})
		h.complete(t, legacyRef, "x")
		fetched, failed := h.outcome(t, legacyRef, 10*time.Second)
		if failed != nil {
			t.Fatalf("harvest failed: %+v", failed)
		}
		var cmds []string
		ids := map[string]bool{}
		for _, a := range stored(fetched, events.RunResultsJSON) {
			cmds = append(cmds, a.Command)
			ids[a.InvocationID] = true
		}
		if strings.Join(cmds, ",") != "seed,run,test" || len(ids) != 3 {
			t.Errorf("run_results commands = %v, invocations %v; want seed,run,test, each its own", cmds, ids)
		}
		if m := stored(fetched, events.ManifestJSON); len(m) != 1 || m[0].Command != "test" {
			t.Errorf("manifest = %+v, want the last command step's (test)", m)
		}
		if len(fetched.Warnings) != 0 {
			t.Errorf("warnings = %q, want none", fetched.Warnings)
		}
	})
	t.Run("step ignored by the API", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{cloud: devcloud.Config{IgnoreStep: true}})
		h.complete(t, legacyRef, "x")
		fetched, failed := h.outcome(t, legacyRef, 10*time.Second)
		if failed != nil {
			t.Fatalf("harvest failed: %+v", failed)
		}
		if len(fetched.Warnings) == 0 || !strings.Contains(fetched.Warnings[0], "ignored the step parameter") {
			t.Errorf("warnings = %q, want one saying dbt Cloud ignored step", fetched.Warnings)
		}
	})
}

func TestRunOutcomes(t *testing.T) {
	t.Parallel()
	t.Run("errored run harvested with its status", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{cloud: devcloud.Config{RunStatus: 20, ArtifactsDir: artifactsDir(t, 6, func(o *gen.Options) { o.FailingTests = 2 })}})
		h.complete(t, legacyRef, "x")
		fetched, failed := h.outcome(t, legacyRef, 10*time.Second)
		if failed != nil || fetched.Run.Status != "Error" || fetched.Run.StatusCode != 20 {
			t.Fatalf("outcome = %+v / %+v, want harvested with status Error", fetched, failed)
		}
	})
	t.Run("cancelled run skipped", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{cloud: devcloud.Config{RunStatus: 30}})
		h.complete(t, legacyRef, "x")
		_, failed := h.outcome(t, legacyRef, 10*time.Second)
		if failed == nil || failed.Stage != "skip" || !strings.Contains(failed.Reason, "cancelled") {
			t.Fatalf("harvest.failed = %+v, want stage skip", failed)
		}
	})
	t.Run("no catalog: absent with the reason", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{cloud: devcloud.Config{ArtifactsDir: artifactsDir(t, 5, func(o *gen.Options) { o.Catalog = false })}})
		h.complete(t, legacyRef, "x")
		fetched, failed := h.outcome(t, legacyRef, 10*time.Second)
		if failed != nil {
			t.Fatalf("harvest failed: %+v", failed)
		}
		found := false
		for _, a := range fetched.Absent {
			found = found || a.Name == events.CatalogJSON && strings.Contains(a.Reason, `"Generate docs on run" is off`)
		}
		if !found {
			t.Errorf("absent = %+v, want catalog.json with the job setting to turn on", fetched.Absent)
		}
	})
}

func TestNotHarvestedButCounted(t *testing.T) {
	t.Parallel()
	acct := config.Account{ID: 1, Exclude: config.Selector{Jobs: []config.Match{{Name: "CI check"}}}}
	h := newHarness(t, harnessOpts{accounts: []config.Account{acct}})
	other := legacyRef
	other.AccountID = 9 // no token configured
	h.complete(t, other, "Nightly")
	h.complete(t, legacyRef, "ci CHECK") // the job is excluded by name
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s := h.f.Skipped()
		if s[ReasonAccountNotConfigured] == 1 && s[config.ReasonJobExcluded] == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := h.f.Skipped(); s[ReasonAccountNotConfigured] != 1 || s[config.ReasonJobExcluded] != 1 {
		t.Fatalf("Skipped = %v, want one of each", s)
	}
	if n := h.msgs(t, events.StreamRuns); n != 2 {
		t.Errorf("DBT_RUNS holds %d events, want both stored", n)
	}
	if n := h.msgs(t, events.StreamArtifacts); n != 0 {
		t.Errorf("DBT_ARTIFACTS holds %d events, want none harvested", n)
	}
	if len(h.requests()) != 0 {
		t.Errorf("dbt Cloud was called %d times, want 0", len(h.requests()))
	}
}

// FetchListed (the reconciler's and the backfill's step) skips what the
// ledger records, and fetches a run whose harvest failed as the next
// generation only when asked to retry failures.
func TestFetchListedByLedger(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noConsumer: true})
	ctx := t.Context()
	run := dbtcloud.Run{ID: legacyRef.RunID, AccountID: 1, ProjectID: legacyRef.ProjectID, EnvironmentID: legacyRef.EnvironmentID,
		JobDefinitionID: legacyRef.JobID, Status: dbtcloud.StatusSuccess, IsComplete: true}
	if err := h.f.Ledger.Put(ctx, ledger.Record{Run: legacyRef, Generation: 3, Status: ledger.Failed}); err != nil {
		t.Fatal(err)
	}
	if out, err := h.f.FetchListed(ctx, run, false); out != Skipped || err != nil {
		t.Fatalf("FetchListed of a failed run, no retry = %v, %v; want skipped", out, err)
	}
	if out, err := h.f.FetchListed(ctx, run, true); out != Fetched || err != nil {
		t.Fatalf("FetchListed of a failed run, retry = %v, %v; want fetched", out, err)
	}
	fetched, _ := h.outcome(t, legacyRef, 10*time.Second)
	if fetched == nil || fetched.Generation != 4 {
		t.Fatalf("artifacts event = %+v, want generation 4", fetched)
	}
	if err := h.f.Ledger.Put(ctx, ledger.Record{Run: legacyRef, Generation: 4, Status: ledger.Completed}); err != nil {
		t.Fatal(err)
	}
	if out, err := h.f.FetchListed(ctx, run, true); out != Skipped || err != nil {
		t.Fatalf("FetchListed of a completed run = %v, %v; want skipped", out, err)
	}
}
