package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/fetcher"
	"github.com/dbt-harvester/harvester/services/internal/service"
)

// TestBackfill harvests a job's runs oldest first, waits out a 429, stops
// at --limit, and resumes without fetching a harvested run again.
func TestBackfill(t *testing.T) {
	ctx := t.Context()
	p := startPipeline(t, service.Roles{Normalizer: true})
	world := account(testArtifacts(t), 5, true, true)
	job := &world.Projects[0].Environments[0].Jobs[0]
	job.Runs[2].Faults = devcloud.Faults{RateLimit: 1, RetryAfter: 1} // run 1002's first request gets a 429
	p.setWorld(t, world)
	env := p.env()

	out, _, err := harvester(ctx, env, "backfill", "--job", "300", "--since", "10d", "--limit", "2")
	if err != nil {
		t.Fatalf("backfill --limit 2: %v\n%s", err, out)
	}
	for _, want := range []string{"backfill 1/5 run 1000", "backfill 2/5 run 1001", "--limit", "harvested 2, already harvested 0, failed 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("first backfill output lacks %q:\n%s", want, out)
		}
	}
	record(t, p.js, 1000)
	record(t, p.js, 1001)

	out, _, err = harvester(ctx, env, "backfill", "--job", "300", "--since", "10d")
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, out)
	}
	for _, want := range []string{"rate limited", "harvested 3, already harvested 2, failed 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("second backfill output lacks %q:\n%s", want, out)
		}
	}
	var order []int64
	for _, c := range closings(t, p.js, 5) {
		order = append(order, c.Run.RunID)
		if c.Generation != 1 {
			t.Errorf("run %d harvested as generation %d, want 1", c.Run.RunID, c.Generation)
		}
	}
	if want := []int64{1000, 1001, 1002, 1003, 1004}; !equalIDs(order, want) {
		t.Errorf("harvest order = %v, want oldest first %v", order, want)
	}
	for _, id := range []int64{1000, 1001, 1003} {
		if n := p.runGets(id); n != 1 {
			t.Errorf("run %d read %d times, want once (resumed, not redone)", id, n)
		}
	}
	record(t, p.js, 1004)
	out, _, err = harvester(ctx, env, "backfill", "--job", "300", "--since", "10d")
	if err != nil || !strings.Contains(out, "harvested 0, already harvested 5") {
		t.Errorf("third backfill = %v\n%s", err, out)
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBackfillFlags(t *testing.T) {
	for _, args := range [][]string{{"backfill"}, {"backfill", "--job", "1"}, {"backfill", "--since", "1d"}, {"backfill", "--job", "1", "--since", "yesterday"}} {
		if _, _, err := harvester(t.Context(), func(string) string { return "" }, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	if isTerminal(&b) {
		t.Fatal("a buffer is not a terminal")
	}
	p := &progress{w: &b, tty: true}
	p.Start(4)
	p.Step(1, dbtcloud.Run{ID: 7, FinishedAt: time.Now()}, fetcher.Fetched, nil)
	p.Note("rate limited")
	p.Finish()
	out := b.String()
	for _, want := range []string{"\r\x1b[K[#######-", "1/4 run 7 harvested", "rate limited\n[#######"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q: %q", want, out)
		}
	}
	b.Reset()
	p = newProgress(&b)
	p.Start(1)
	p.Step(1, dbtcloud.Run{ID: 7, FinishedAt: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)}, fetcher.Skipped, nil)
	if want := "backfill 1/1 run 7 (finished 2026-01-02 03:04): skipped\n"; !strings.Contains(b.String(), want) {
		t.Errorf("plain output %q lacks %q", b.String(), want)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"2026-03-01", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), false},
		{"2026-03-01T05:00:00Z", time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC), false},
		{"2d", now.Add(-48 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"last week", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in, now)
		if (err != nil) != tt.err || !got.Equal(tt.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}
