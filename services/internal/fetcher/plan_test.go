package fetcher

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
)

func TestStepCommand(t *testing.T) {
	tests := map[string]string{
		"Invoke dbt with `dbt build`":                      "build",
		"Invoke dbt with `dbt build --select tag:nightly`": "build",
		"Invoke dbt with `dbt --debug run -s x`":           "run",
		"Invoke dbt with `dbt docs generate`":              "docs generate",
		"Invoke dbt with `dbt source freshness`":           "source freshness",
		"Invoke dbt with `dbt source snapshot-freshness`":  "source freshness",
		"Invoke dbt with `dbt run-operation grant_select`": "run-operation",
		"Invoke dbt with `dbt deps`":                       "deps",
		"Invoke dbt with dbt test":                         "test",
		"Clone Git Repository":                             "",
		"Create Profile from Connection Snowflake":         "",
	}
	for name, want := range tests {
		if got := StepCommand(name); got != want {
			t.Errorf("StepCommand(%q) = %q, want %q", name, got, want)
		}
	}
}

func step(i int, name string) dbtcloud.Step {
	return dbtcloud.Step{Index: i, Name: name, Status: dbtcloud.StatusSuccess, StartedAt: time.Unix(1, 0)}
}

// planned renders a plan as "name@step" (absent ones as "name!"), in order.
func planned(ws []Want) string {
	var out []string
	for _, w := range ws {
		s := w.Name + "@" + string(rune('0'+w.Step))
		if w.AbsentReason != "" {
			s = w.Name + "!"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestPlan(t *testing.T) {
	setup := []dbtcloud.Step{step(1, "Clone Git Repository"), step(2, "Create Profile from Connection Snowflake"), step(3, "Invoke dbt with `dbt deps`")}
	with := func(more ...dbtcloud.Step) []dbtcloud.Step {
		return append(append([]dbtcloud.Step{}, setup...), more...)
	}
	skipped := dbtcloud.Step{Index: 6, Name: "Invoke dbt with `dbt test`", Status: dbtcloud.StatusQueued}
	tests := []struct {
		name       string
		run        dbtcloud.Run
		want       string
		fallbackTo int
	}{
		{"build, docs and freshness", dbtcloud.Run{HasDocsGenerated: true, HasSourcesGenerated: true, Steps: with(
			step(4, "Invoke dbt with `dbt source freshness`"), step(5, "Invoke dbt with `dbt build`"), step(6, "Invoke dbt with `dbt docs generate`"))},
			"manifest.json@5 run_results.json@5 semantic_manifest.json@5 catalog.json@6 sources.json@4", 0},
		{"several commands: results of each, manifest of the last", dbtcloud.Run{HasDocsGenerated: true, Steps: with(
			step(4, "Invoke dbt with `dbt seed`"), step(5, "Invoke dbt with `dbt run`"), step(6, "Invoke dbt with `dbt test`"), step(7, "Invoke dbt with `dbt docs generate`"))},
			"manifest.json@6 run_results.json@4 run_results.json@5 run_results.json@6 semantic_manifest.json@6 catalog.json@7 sources.json!", 5},
		{"a skipped command step is not planned", dbtcloud.Run{Steps: with(step(4, "Invoke dbt with `dbt run`"), step(5, "Invoke dbt with `dbt seed`"), skipped)},
			"manifest.json@5 run_results.json@4 run_results.json@5 semantic_manifest.json@5 catalog.json! sources.json!", 4},
		{"no steps: the default", dbtcloud.Run{}, "manifest.json@0 run_results.json@0 semantic_manifest.json@0 catalog.json! sources.json!", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := Plan(tt.run)
			if got := planned(ws); got != tt.want {
				t.Errorf("Plan = %s\nwant   %s", got, tt.want)
			}
			if ws[0].Optional {
				t.Error("manifest.json is optional, want required")
			}
			if tt.fallbackTo != 0 && (len(ws[0].Fallback) == 0 || ws[0].Fallback[0].Index != tt.fallbackTo) {
				t.Errorf("manifest fallback = %+v, want step %d first", ws[0].Fallback, tt.fallbackTo)
			}
		})
	}
}

func TestInspect(t *testing.T) {
	const rr = `{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/run-results/v6.json","env":{"a":"b"},"invocation_id":"inv-1"},` +
		`"results":[{"unique_id":"model.x","status":"success","timing":[]}],"elapsed_time":1.5,"args":{"select":["x"],"which":"build"}}`
	tests := []struct {
		name, in string
		want     inspection
		wantErr  bool
	}{
		{"run results", rr + "\n", inspection{"https://schemas.getdbt.com/dbt/run-results/v6.json", "inv-1", "build"}, false},
		{"duplicate names are dbt's business", `{"a":1,"a":2}`, inspection{}, false},
		{"not an object", `[1,2]`, inspection{}, false},
		{"truncated", rr[:len(rr)/2], inspection{}, true},
		{"truncated at a token boundary", `{"metadata":{}`, inspection{}, true},
		{"garbled", strings.Replace(rr, `"results":[`, `"results":[}`, 1), inspection{}, true},
		{"trailing data", rr + `{}`, inspection{}, true},
		{"empty", ``, inspection{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inspect(iotest.OneByteReader(strings.NewReader(tt.in)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("inspect = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("inspect = %+v, want %+v", got, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), "at byte") {
				t.Errorf("inspect error %q does not say where", err)
			}
		})
	}
}

func TestCheckResults(t *testing.T) {
	r := func(step int, cmd, which, inv string) checked {
		return checked{events.StoredArtifact{Step: step}, inspection{Which: which, InvocationID: inv}, Want{Command: cmd, StepName: "Invoke dbt with `dbt " + cmd + "`"}}
	}
	tests := []struct {
		name    string
		in      []checked
		want    int
		mention string
	}{
		{"each step its own", []checked{r(4, "run", "run", "a"), r(5, "test", "test", "b")}, 0, ""},
		{"one step, right command", []checked{r(5, "build", "build", "a")}, 0, ""},
		{"step ignored: the docs step's file", []checked{r(5, "build", "generate", "d")}, 1, `args.which "generate"`},
		{"step ignored: one invocation", []checked{r(4, "run", "run", "x"), r(5, "test", "run", "x")}, 2, "steps 4, 5 are one invocation (x)"},
	}
	for _, tt := range tests {
		got := checkResults(tt.in)
		if len(got) != tt.want || (tt.mention != "" && !strings.Contains(strings.Join(got, "\n"), tt.mention)) {
			t.Errorf("%s: checkResults = %q, want %d warnings mentioning %q", tt.name, got, tt.want, tt.mention)
		}
	}
}

// A failing inspect must not leave the writer blocked.
func TestVerifyReaderAbortsOnGarbage(t *testing.T) {
	body := io.NopCloser(strings.NewReader("{]" + strings.Repeat(" ", 1<<20)))
	pr, pw := io.Pipe()
	done := make(chan inspected, 1)
	go func() {
		info, err := inspect(pr)
		pr.CloseWithError(err)
		done <- inspected{info, err}
	}()
	vr := &verifyReader{body: body, hash: nopHash{}, pw: pw, done: done}
	_, err := io.Copy(io.Discard, vr)
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("copy = %v, want the check's error", err)
	}
	if res := vr.result(); res.err == nil {
		t.Fatal("check passed garbage")
	}
}

type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 1 }
