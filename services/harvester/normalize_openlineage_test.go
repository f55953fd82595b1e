package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/gen"
)

// TestNormalizeOpenLineage: `harvester normalize --format openlineage` on a
// generated dbt Core target folder prints one RunEvent per line: the
// invocation's START first and its end last, every node's START before its
// end, datasets in the namespace from the environment.
func TestNormalizeOpenLineage(t *testing.T) {
	dir := t.TempDir()
	opts := gen.DefaultOptions(4)
	opts.Adapter = "snowflake"
	if _, err := gen.Write(dir, opts); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HARVESTER_OPENLINEAGE_DATASET_NAMESPACE": "snowflake://org-acct"}
	getenv := func(k string) string { return env[k] }
	var stdout, stderr bytes.Buffer
	args := []string{"--format", "openlineage", dir, "--namespace", "local-dbt"}
	if err := run(t.Context(), append([]string{"normalize"}, args...), getenv, &stdout, &stderr); err != nil {
		t.Fatalf("normalize %v: %v\n%s", args, err, stderr.String())
	}
	type runEvent struct {
		EventType string `json:"eventType"`
		Run       struct {
			RunID string `json:"runId"`
		} `json:"run"`
		Job struct {
			Namespace, Name string
		} `json:"job"`
		Outputs []struct{ Namespace, Name string } `json:"outputs"`
	}
	var evs []runEvent
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e runEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line is not a RunEvent: %v", err)
		}
		evs = append(evs, e)
	}
	if len(evs) < 4 {
		t.Fatalf("%d events", len(evs))
	}
	first, last := evs[0], evs[len(evs)-1]
	if first.EventType != "START" || first.Job.Name != "dbt.jaffle_demo" || first.Job.Namespace != "local-dbt" ||
		last.Run.RunID != first.Run.RunID || last.EventType == "START" {
		t.Errorf("parent events: %+v ... %+v", first, last)
	}
	started := map[string]bool{}
	outputs := 0
	for _, e := range evs[1 : len(evs)-1] {
		if e.EventType == "START" {
			started[e.Run.RunID] = true
		} else if !started[e.Run.RunID] {
			t.Errorf("%s %s before its START", e.Job.Name, e.EventType)
		}
		for _, o := range e.Outputs {
			outputs++
			if o.Namespace != "snowflake://org-acct" || strings.Count(o.Name, ".") != 2 {
				t.Errorf("output %+v, want database.schema.table in snowflake://org-acct", o)
			}
		}
	}
	if outputs == 0 {
		t.Error("no event has an output")
	}
	if !strings.Contains(stderr.String(), "OpenLineage run events") {
		t.Errorf("stderr = %q", stderr.String())
	}
	if err := run(t.Context(), []string{"normalize", "--format", "xml", dir}, getenv, &stdout, &stderr); err == nil {
		t.Error("--format xml accepted")
	}
}
