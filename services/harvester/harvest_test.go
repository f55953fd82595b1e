package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/devcloud"
	"github.com/dbt-harvester/harvester/services/internal/gen"
	"github.com/dbt-harvester/harvester/services/internal/ledger"
	"github.com/dbt-harvester/harvester/services/internal/natstest"
	"github.com/dbt-harvester/harvester/services/internal/topology"
)

// harvestWorld is one environment with a deploy job (runs 401 success, 402
// error, 403 success without artifacts) and a CI job (410, the newest).
func harvestWorld(t *testing.T) func(string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.DefaultOptions(6)); err != nil {
		t.Fatal(err)
	}
	world := []devcloud.AccountSpec{{ID: 1, Token: "harvest-token", Projects: []devcloud.ProjectSpec{{ID: 100, Name: "analytics",
		Environments: []devcloud.EnvironmentSpec{{ID: 200, Name: "Production", Jobs: []devcloud.JobSpec{
			{ID: 300, Name: "Nightly", GenerateDocs: true, ArtifactsDir: dir, Runs: []devcloud.RunSpec{
				{ID: 401}, {ID: 402, Status: 20}, {ID: 403, ArtifactsDir: t.TempDir()}}},
			{ID: 301, Name: "CI check", JobType: "ci", ArtifactsDir: dir, Runs: []devcloud.RunSpec{{ID: 410}}},
		}}}}}}}
	cloud, err := devcloud.New(devcloud.Config{Accounts: world})
	if err != nil {
		t.Fatalf("devcloud.New: %v", err)
	}
	api := httptest.NewServer(cloud.Handler())
	t.Cleanup(api.Close)
	vars := map[string]string{"DBT_CLOUD_ACCOUNT_ID": "1", "DBT_CLOUD_ACCESS_URL": api.URL, "DBT_CLOUD_API_TOKEN": "harvest-token"}
	return func(k string) string { return vars[k] }
}

func TestHarvestStdout(t *testing.T) {
	getenv := harvestWorld(t)
	tests := []struct {
		args    []string
		wantRun int64
	}{
		{[]string{"--environment", "200"}, 401}, // 410 is CI, 403 has no artifacts, 402 failed
		{[]string{"--job", "300"}, 401},
		{[]string{"--job", "301"}, 410},
		{[]string{"--run", "402"}, 402}, // an explicit run is harvested whatever its status
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), append([]string{"harvest", "--stdout"}, tt.args...), getenv, &stdout, &stderr); err != nil {
				t.Fatalf("harvest: %v\n%s", err, stderr.String())
			}
			lines := 0
			sc := bufio.NewScanner(&stdout)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var a events.Asset
				if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
					t.Fatalf("line %d: %v", lines+1, err)
				}
				if a.RunID != tt.wantRun || a.AccountID != 1 || a.EnvironmentID != 200 {
					t.Fatalf("asset %s run context %+v, want run %d", a.UniqueID, a.RunRef, tt.wantRun)
				}
				lines++
			}
			if lines == 0 || !strings.Contains(stderr.String(), "normalized ") || !strings.Contains(stderr.String(), "stored  manifest.json") {
				t.Errorf("%d assets; stderr:\n%s", lines, stderr.String())
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		for _, args := range [][]string{{"harvest"}, {"harvest", "--job", "1", "--run", "2"}, {"harvest", "--job", "999", "--stdout"}} {
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), args, getenv, &stdout, &stderr); err == nil {
				t.Errorf("%v = nil error, want one", args)
			}
		}
	})
}

func TestHarvestIntoPipeline(t *testing.T) {
	getenv := harvestWorld(t)
	conn, js := natstest.Run(t)
	if err := topology.Ensure(t.Context(), js, topology.Config{}); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "NATS_URL" {
			return conn.ClientURL()
		}
		return getenv(k)
	}
	for gen := 1; gen <= 2; gen++ {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), []string{"harvest", "--run", "401"}, env, &stdout, &stderr); err != nil {
			t.Fatalf("harvest: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stdout.String(), "run 401") || !strings.Contains(stdout.String(), "stored  run_results.json") {
			t.Errorf("summary:\n%s", stdout.String())
		}
		s, err := js.Stream(t.Context(), events.StreamArtifacts)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.GetLastMsgForSubject(t.Context(), "dbt.artifacts.1.100.200.300")
		if err != nil {
			t.Fatalf("no artifacts event: %v", err)
		}
		ev, _ := events.Decode(m.Data)
		if want := events.ArtifactsID(events.RunRef{AccountID: 1, RunID: 401}, gen); ev.ID() != want {
			t.Errorf("artifacts event %s, want %s", ev.ID(), want)
		}
		// What the normalizer does once it closed the harvest: record it.
		kv, err := js.KeyValue(t.Context(), ledger.Bucket)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := json.Marshal(ledger.Record{Run: events.RunRef{AccountID: 1, RunID: 401}, Generation: gen, Status: "completed", At: time.Now()})
		if _, err := kv.Put(t.Context(), ledger.Key(1, 401), rec); err != nil {
			t.Fatal(err)
		}
	}
}

// --config is read by serve, fetcher and harvest (an invalid file fails them).
func TestConfigFlag(t *testing.T) {
	bad := t.TempDir() + "/h.yaml"
	if err := os.WriteFile(bad, []byte("accounts:\n  - id: 1\n    acess_url: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "fetcher", "harvest"} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), []string{cmd, "--config", bad, "--run", "1"}, func(string) string { return "" }, &stdout, &stderr)
		if cmd != "harvest" {
			err = run(t.Context(), []string{cmd, "--config", bad}, func(string) string { return "" }, &stdout, &stderr)
		}
		if err == nil || !strings.Contains(err.Error(), "acess_url") {
			t.Errorf("%s --config with a misspelt key = %v, want the file's error", cmd, err)
		}
	}
}
