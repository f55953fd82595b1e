package fetcher

import (
	"fmt"
	"strings"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/dbtcloud"
)

// Want is one artifact to fetch from one step, or to record as absent.
type Want struct {
	Name     string
	Step     int // 0: the run's default (its last step)
	StepName string
	Command  string // the step's dbt command, e.g. "build"; "" when unknown
	// Fallback are earlier steps to try, latest first, when Step has no such
	// file (a command step that did not run): only for manifest.json.
	Fallback []dbtcloud.Step
	// Optional: a 404 once the run is complete means absent (all but the manifest).
	Optional     bool
	AbsentReason string // set when the run's settings say the file cannot exist
}

// Plan chooses the step of each artifact (see the package doc): manifest.json
// and semantic_manifest.json from the last command step, run_results.json
// from every command step in order, catalog.json from the docs-generate step
// when the run generated docs, sources.json from the source-freshness step
// when it ran one. A run whose steps name no dbt command (or that came without
// run_steps) is fetched from its default step, 0.
func Plan(run dbtcloud.Run) []Want {
	var cmds []dbtcloud.Step
	var docs, fresh *dbtcloud.Step
	for i, s := range run.Steps {
		switch cmd := StepCommand(s.Name); {
		case cmd == "docs generate":
			docs = &run.Steps[i]
		case cmd == "source freshness":
			fresh = &run.Steps[i]
		case isBuildCommand(cmd) && stepRan(s):
			cmds = append(cmds, s)
		}
	}
	last := dbtcloud.Step{}
	if len(cmds) > 0 {
		last = cmds[len(cmds)-1]
	}
	manifest := Want{Name: events.ManifestJSON, Step: last.Index, StepName: last.Name, Command: StepCommand(last.Name)}
	for i := len(cmds) - 2; i >= 0; i-- {
		manifest.Fallback = append(manifest.Fallback, cmds[i])
	}
	wants := []Want{manifest}
	if len(cmds) == 0 {
		wants = append(wants, Want{Name: events.RunResultsJSON, Optional: true})
	}
	for _, s := range cmds {
		wants = append(wants, Want{Name: events.RunResultsJSON, Step: s.Index, StepName: s.Name, Command: StepCommand(s.Name), Optional: true})
	}
	wants = append(wants, Want{Name: events.SemanticManifestJSON, Step: last.Index, StepName: last.Name, Command: StepCommand(last.Name), Optional: true})

	jobID := run.JobDefinitionID
	catalog := Want{Name: events.CatalogJSON, Optional: true}
	if docs != nil {
		catalog.Step, catalog.StepName, catalog.Command = docs.Index, docs.Name, "docs generate"
	}
	if !run.HasDocsGenerated {
		catalog.AbsentReason = fmt.Sprintf("no catalog.json: \"Generate docs on run\" is off for job %d, so column types come from the YAML only; turn it on in the job's settings", jobID)
	}
	sources := Want{Name: events.SourcesJSON, Optional: true}
	if fresh != nil {
		sources.Step, sources.StepName, sources.Command = fresh.Index, fresh.Name, "source freshness"
	}
	if !run.HasSourcesGenerated {
		sources.AbsentReason = fmt.Sprintf("no sources.json: \"Run source freshness\" is off for job %d, so sources carry no freshness; turn it on in the job's settings", jobID)
	}
	return append(wants, catalog, sources)
}

// StepCommand is the dbt command a step ran, from its name: "Invoke dbt with
// `dbt build --select x`" is "build", "`dbt docs generate`" is "docs
// generate", "`dbt source freshness`" (or "snapshot-freshness") is "source
// freshness". It is "" for steps that ran no dbt command (clone, profile).
func StepCommand(name string) string {
	lower := strings.ToLower(name)
	var rest string
	if i := strings.Index(lower, "`dbt "); i >= 0 {
		rest = lower[i+len("`dbt "):]
	} else if i := strings.LastIndex(lower, "dbt "); i >= 0 {
		rest = lower[i+len("dbt "):]
	} else {
		return ""
	}
	rest, _, _ = strings.Cut(rest, "`")
	fields := strings.Fields(rest)
	// Global flags may precede the command: `dbt --debug build`.
	for len(fields) > 0 && strings.HasPrefix(fields[0], "-") {
		fields = fields[1:]
	}
	if len(fields) == 0 {
		return ""
	}
	switch fields[0] {
	case "docs":
		if len(fields) > 1 && fields[1] == "generate" {
			return "docs generate"
		}
		return "docs"
	case "source":
		if len(fields) > 1 && (fields[1] == "freshness" || fields[1] == "snapshot-freshness") {
			return "source freshness"
		}
		return "source"
	}
	return fields[0]
}

// buildCommands are the commands whose step's run_results.json and
// manifest.json hold the run's results (deps, debug, clean, parse, list,
// docs generate and source freshness are not).
var buildCommands = map[string]bool{
	"build": true, "run": true, "test": true, "seed": true, "snapshot": true, "compile": true,
	"retry": true, "clone": true, "run-operation": true, "show": true,
}

func isBuildCommand(cmd string) bool { return buildCommands[cmd] }

// stepRan reports whether a step started: a failed command step skips the
// steps after it, which then have neither a start nor a final status.
func stepRan(s dbtcloud.Step) bool {
	return !s.StartedAt.IsZero() || s.Status >= dbtcloud.StatusRunning
}

// expectedWhich is the args.which a command's run_results.json carries.
func expectedWhich(cmd string) string {
	switch cmd {
	case "docs generate":
		return "generate"
	case "source freshness":
		return "source-freshness"
	}
	return cmd
}
