package openlineage

import (
	"time"

	"github.com/dbt-harvester/harvester/events"
)

// Collector keeps, from a harvest's assets, what its OpenLineage events
// need: every relation (to name inputs and outputs, with their columns) and
// every executed model, seed, snapshot and test (with its result). Add the
// assets in manifest order; the collector holds no code or meta beyond that.
type Collector struct {
	relations map[string]*relation
	executed  []*node
	ran       map[string]bool // unique IDs of executed
}

// relation is an asset that is, or stands for, a table or view.
type relation struct {
	uniqueID, resourceType       string
	database, schema, identifier string
	ephemeral                    bool
	dependsOn                    []string // for ephemeral models: resolved through
	description, owner           string
	tags                         []string
	columns                      []column
	hasColumns                   bool
}

type column struct {
	name, typ, description string
	index                  int
	tags                   []string
}

// node is an executed model, seed, snapshot or test.
type node struct {
	uniqueID, resourceType, name string
	description, owner, language string
	tags, dependsOn              []string
	compiledCode                 string
	status, message              string
	start, end                   *time.Time
	execSeconds                  float64
	rowsAffected                 *int64
	test                         *events.TestInfo
}

// executedTypes are the resource types that get a run of their own.
func executedType(typ string) bool {
	switch typ {
	case "model", "seed", "snapshot", "test":
		return true
	}
	return false
}

// Wants reports whether assets of resourceType matter to the events, so a
// caller can skip decoding the others.
func Wants(resourceType string) bool {
	return executedType(resourceType) || resourceType == "source"
}

// Add records what the events need of a.
func (c *Collector) Add(a events.Asset) {
	if !Wants(a.ResourceType) {
		return
	}
	if c.relations == nil {
		c.relations = map[string]*relation{}
	}
	if a.ResourceType != "test" {
		r := &relation{uniqueID: a.UniqueID, resourceType: a.ResourceType, database: a.Database, schema: a.Schema,
			identifier: a.Identifier, ephemeral: a.Materialization == "ephemeral", description: a.Description,
			owner: a.Owner, tags: a.Tags, hasColumns: len(a.Columns) > 0}
		if r.ephemeral {
			r.dependsOn = a.DependsOn
		}
		for _, col := range a.Columns {
			r.columns = append(r.columns, column{name: col.Name, typ: col.DataType, description: col.Description,
				index: col.Index, tags: col.Tags})
		}
		c.relations[a.UniqueID] = r
	}
	if !executedType(a.ResourceType) || a.Result == nil || skipped(a.Result.Status) {
		return
	}
	res := a.Result
	n := &node{uniqueID: a.UniqueID, resourceType: a.ResourceType, name: a.Name, description: a.Description,
		owner: a.Owner, language: a.Language, tags: a.Tags, dependsOn: a.DependsOn, compiledCode: a.CompiledCode,
		status: res.Status, message: res.Message, execSeconds: res.ExecutionTime, rowsAffected: res.RowsAffected, test: a.Test}
	n.start, n.end = timings(res)
	c.executed = append(c.executed, n)
	if c.ran == nil {
		c.ran = map[string]bool{}
	}
	c.ran[n.uniqueID] = true
}

// skipped reports whether a result says the node did not run.
func skipped(status string) bool {
	return status == "skipped" || status == ""
}

// timings are the earliest start and latest end of a result's compile and
// execute timings (nil when it has none).
func timings(r *events.Result) (start, end *time.Time) {
	for _, t := range []*time.Time{r.CompileStarted, r.ExecuteStarted} {
		if t != nil && (start == nil || t.Before(*start)) {
			start = t
		}
	}
	for _, t := range []*time.Time{r.CompileDone, r.ExecuteDone} {
		if t != nil && (end == nil || t.After(*end)) {
			end = t
		}
	}
	return start, end
}

// Executed is how many nodes get a run of their own.
func (c *Collector) Executed() int { return len(c.executed) }
