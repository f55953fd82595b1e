package openlineage

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dbt-harvester/harvester/events"
)

// DefaultNamespace is the job namespace when none is configured.
const DefaultNamespace = "dbt"

// Options name the jobs and datasets. The zero value is usable.
type Options struct {
	// Namespace is the job namespace of every run (default "dbt").
	Namespace string
	// DatasetNamespaces maps a dbt Cloud environment ID to the namespace of
	// its warehouse's datasets, as the naming conventions write it
	// (postgres://host:5432, snowflake://org-account, bigquery, ...): the
	// artifacts do not name the warehouse's host.
	DatasetNamespaces map[int64]string
	// DatasetNamespace is the dataset namespace of environments not in
	// DatasetNamespaces (and of dbt Core runs). Empty: derived from the
	// adapter ("bigquery", else "<adapter>://unconfigured"), with a warning.
	DatasetNamespace string
}

// Harvest is one harvest of a run: the input of Build.
type Harvest struct {
	// Run is the dbt Cloud run. A dbt Core run (RunID 0) is named by
	// InvocationID instead.
	Run          events.RunFacts
	Generation   int
	Project      *events.ProjectInfo // the manifest's metadata; nil when unknown
	InvocationID string              // dbt's invocation ID, for a run with no dbt Cloud run ID
}

// Event is one RunEvent of a harvest, with the node it is about ("" for the
// dbt Cloud run itself).
type Event struct {
	Node     string
	RunEvent RunEvent
}

// Build turns a harvest into its OpenLineage run events, in the order they
// are to be published: the parent run's START, then each executed node's
// START and COMPLETE or FAIL in order of their times (a node's START always
// before its end), then the parent's COMPLETE, FAIL or ABORT. Warnings say
// what could not be named as configured (a warehouse namespace not set).
func Build(h Harvest, c *Collector, opts Options) ([]Event, []string) {
	p := NewPlan(h, c, opts)
	out := make([]Event, p.Len())
	for i := range out {
		out[i] = p.Event(i)
	}
	return out, p.Warnings()
}

// Plan is Build's events, in Build's order, each built when asked for: a
// harvest of 20,000 models has 200,000 events, which EachMessage builds,
// encodes and lets go of chunk by chunk on every CPU rather than hold.
type Plan struct {
	b                       *builder
	parentStart, parentEnd  time.Time
	keys                    []timed // the nodes' events in order
	parentFirst, parentLast RunEvent
}

// timed is a node's event in a Plan: seq is 2i for executed node i's START,
// 2i+1 for its end.
type timed struct {
	at  time.Time
	seq int
}

// NewPlan orders a harvest's events (Build's order) without building the
// nodes' ones.
func NewPlan(h Harvest, c *Collector, opts Options) *Plan {
	p := &Plan{b: newBuilder(h, c, opts)}
	p.parentStart, p.parentEnd = p.b.parentTimes()
	p.parentFirst = p.b.parentEvent(Start, p.parentStart)
	p.keys = make([]timed, 0, 2*len(c.executed))
	for i, n := range c.executed {
		start, end := p.b.nodeTimes(n, p.parentStart)
		p.keys = append(p.keys, timed{start, 2 * i}, timed{end, 2*i + 1})
	}
	slices.SortFunc(p.keys, func(x, y timed) int { // a node's START before its end when they tie
		if c := x.at.Compare(y.at); c != 0 {
			return c
		}
		return cmp.Compare(x.seq, y.seq)
	})
	p.parentLast = p.b.parentEvent(p.b.parentState(), p.parentEnd)
	return p
}

// Len is how many events the harvest has.
func (p *Plan) Len() int { return len(p.keys) + 2 }

// Event builds event i (0 <= i < Len); it is safe to call from several
// goroutines at once (the plan is only read).
func (p *Plan) Event(i int) Event {
	switch i {
	case 0:
		return Event{RunEvent: p.parentFirst}
	case len(p.keys) + 1:
		return Event{RunEvent: p.parentLast}
	}
	k := p.keys[i-1]
	n := p.b.c.executed[k.seq/2]
	state := Start
	if k.seq%2 == 1 {
		state = nodeState(n)
	}
	return Event{Node: n.uniqueID, RunEvent: p.b.nodeEvent(n, state, k.at)}
}

// Warnings say what could not be named as configured.
func (p *Plan) Warnings() []string { return p.b.warnings }

type builder struct {
	h        Harvest
	c        *Collector
	opts     Options
	key      string // "<account>/<run>/g<generation>", or "core/<invocation>/g<generation>"
	parent   JobRef
	parentID string
	adapter  string
	dbtVer   string
	dsNS     string
	warnings []string
}

func newBuilder(h Harvest, c *Collector, opts Options) *builder {
	b := &builder{h: h, c: c, opts: opts}
	gen := max(h.Generation, 1)
	ref := h.Run.RunRef
	project, invocation := "", h.InvocationID
	if h.Project != nil {
		project, b.adapter, b.dbtVer = h.Project.Name, h.Project.AdapterType, h.Project.DBTVersion
		invocation = cmp.Or(invocation, h.Project.InvocationID)
	}
	if ref.RunID != 0 {
		b.key = fmt.Sprintf("%d/%d/g%d", ref.AccountID, ref.RunID, gen)
	} else {
		b.key = fmt.Sprintf("core/%s/g%d", cmp.Or(invocation, "unknown"), gen)
	}
	b.dbtVer = cmp.Or(h.Run.DBTVersion, b.dbtVer)
	name := "dbt." + cmp.Or(project, "project")
	if ref.JobID != 0 {
		name = fmt.Sprintf("dbt_cloud.%d.%d.%d.%d", ref.AccountID, ref.ProjectID, ref.EnvironmentID, ref.JobID)
	}
	b.parent = JobRef{Namespace: cmp.Or(opts.Namespace, DefaultNamespace), Name: name}
	b.parentID = RunID(b.key, "")
	b.dsNS = b.datasetNamespace()
	return b
}

// datasetNamespace is the configured warehouse namespace of the run's
// environment, or one derived from the adapter with a warning.
func (b *builder) datasetNamespace() string {
	if ns := b.opts.DatasetNamespaces[b.h.Run.EnvironmentID]; ns != "" {
		return ns
	}
	if b.opts.DatasetNamespace != "" {
		return b.opts.DatasetNamespace
	}
	scheme := adapterScheme(b.adapter)
	if scheme == "bigquery" {
		return scheme // the naming conventions' BigQuery namespace has no host
	}
	ns := scheme + "://unconfigured"
	b.warnings = append(b.warnings, fmt.Sprintf("OpenLineage: no warehouse namespace configured for environment %d: datasets are in namespace %q; "+
		"set HARVESTER_OPENLINEAGE_DATASET_NAMESPACES (e.g. %d=%s://host:5432) so they join other producers' lineage",
		b.h.Run.EnvironmentID, ns, b.h.Run.EnvironmentID, scheme))
	return ns
}

// parentTimes are the dbt Cloud run's start and finish, else the span of
// its nodes, else the manifest's generation time.
func (b *builder) parentTimes() (time.Time, time.Time) {
	var first, last *time.Time
	for _, n := range b.c.executed {
		if n.start != nil && (first == nil || n.start.Before(*first)) {
			first = n.start
		}
		if n.end != nil && (last == nil || n.end.After(*last)) {
			last = n.end
		}
	}
	var start, end time.Time
	switch {
	case b.h.Run.StartedAt != nil:
		start = *b.h.Run.StartedAt
	case first != nil:
		start = *first
	case b.h.Project != nil:
		start, _ = time.Parse(time.RFC3339Nano, b.h.Project.GeneratedAt) // zero if unreadable
	}
	switch {
	case b.h.Run.FinishedAt != nil:
		end = *b.h.Run.FinishedAt
	case last != nil:
		end = *last
	}
	if end.Before(start) {
		end = start
	}
	return start, end
}

func (b *builder) parentState() string {
	switch strings.ToLower(b.h.Run.Status) {
	case "success":
		return Complete
	case "error":
		return Fail
	case "cancelled", "canceled":
		return Abort
	}
	for _, n := range b.c.executed {
		if n.resourceType != "test" && nodeState(n) == Fail {
			return Fail
		}
	}
	return Complete
}

func (b *builder) nodeTimes(n *node, fallback time.Time) (time.Time, time.Time) {
	start, end := fallback, fallback
	if n.start != nil {
		start = *n.start
	}
	if n.end != nil {
		end = *n.end
	} else {
		end = start.Add(time.Duration(n.execSeconds * float64(time.Second)))
	}
	if end.Before(start) {
		end = start
	}
	return start, end
}

// nodeState is a node's final state from its result's status as dbt wrote it.
func nodeState(n *node) string {
	switch strings.ToLower(n.status) {
	case "error", "fail", "runtime error", "runtimeerror":
		return Fail
	}
	return Complete
}

func eventTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

func (b *builder) parentEvent(state string, at time.Time) RunEvent {
	run := Run{RunID: b.parentID}
	if b.dbtVer != "" {
		run.Facets.ProcessingEngine = &ProcessingEngineFacet{Base: base(engineFacetURL), Version: b.dbtVer, Name: "dbt"}
	}
	if b.h.Run.RunID != 0 {
		run.Facets.DbtCloudRun = &DbtCloudRunFacet{Base: base(dbtCloudRunFacetURL), Run: b.h.Run, Generation: max(b.h.Generation, 1)}
	}
	if state == Fail {
		run.Facets.ErrorMessage = &ErrorMessageFacet{Base: base(errorFacetURL),
			Message: cmp.Or(b.h.Run.StatusMessage, "the dbt run failed: see its failed nodes"), ProgrammingLanguage: "SQL"}
	}
	job := Job{Namespace: b.parent.Namespace, Name: b.parent.Name}
	job.Facets.JobType = &JobTypeFacet{Base: base(jobTypeFacetURL), ProcessingType: "BATCH", Integration: "DBT", JobType: "JOB"}
	if d := b.parentDescription(); d != "" {
		job.Facets.Documentation = &DocumentationFacet{Base: base(docJobFacetURL), Description: d}
	}
	return RunEvent{EventType: state, EventTime: eventTime(at), Run: run, Job: job,
		Inputs: []InputDataset{}, Outputs: []OutputDataset{}, Producer: Producer, SchemaURL: SchemaURL}
}

func (b *builder) parentDescription() string {
	r := b.h.Run
	if r.JobID == 0 {
		if b.h.Project != nil && b.h.Project.Name != "" {
			return "dbt project " + b.h.Project.Name
		}
		return ""
	}
	return fmt.Sprintf("dbt Cloud job %s (%d) of project %s (%d), environment %s (%d), account %d",
		cmp.Or(r.JobName, "?"), r.JobID, cmp.Or(r.ProjectName, "?"), r.ProjectID, cmp.Or(r.EnvironmentName, "?"), r.EnvironmentID, r.AccountID)
}

func (b *builder) nodeEvent(n *node, state string, at time.Time) RunEvent {
	run := Run{RunID: RunID(b.key, n.uniqueID)}
	run.Facets.Parent = &ParentFacet{Base: base(parentFacetURL), Run: RunRef{RunID: b.parentID}, Job: b.parent,
		Root: &Parent{Run: RunRef{RunID: b.parentID}, Job: b.parent}}
	if b.dbtVer != "" {
		run.Facets.ProcessingEngine = &ProcessingEngineFacet{Base: base(engineFacetURL), Version: b.dbtVer, Name: "dbt"}
	}
	if state == Fail {
		lang := "SQL"
		if strings.EqualFold(n.language, "python") {
			lang = "PYTHON"
		}
		run.Facets.ErrorMessage = &ErrorMessageFacet{Base: base(errorFacetURL),
			Message: cmp.Or(n.message, "dbt reported status "+n.status), ProgrammingLanguage: lang}
	}
	ev := RunEvent{EventType: state, EventTime: eventTime(at), Run: run, Job: b.nodeJob(n),
		Inputs: b.inputs(n), Outputs: []OutputDataset{}, Producer: Producer, SchemaURL: SchemaURL}
	if n.resourceType != "test" {
		if r := b.c.relations[n.uniqueID]; r != nil && !r.ephemeral {
			if ds, ok := b.dataset(r, true); ok {
				out := OutputDataset{Dataset: ds}
				if state != Start && n.rowsAffected != nil && *n.rowsAffected >= 0 {
					out.OutputFacets = &OutputFacets{OutputStatistics: &OutputStatisticsFacet{Base: base(outputStatsFacetURL), RowCount: *n.rowsAffected}}
				}
				ev.Outputs = append(ev.Outputs, out)
			}
		}
	}
	return ev
}

func (b *builder) nodeJob(n *node) Job {
	job := Job{Namespace: b.parent.Namespace, Name: b.parent.Name + "." + n.uniqueID}
	job.Facets.JobType = &JobTypeFacet{Base: base(jobTypeFacetURL), ProcessingType: "BATCH", Integration: "DBT",
		JobType: strings.ToUpper(n.resourceType)}
	if n.compiledCode != "" {
		job.Facets.SQL = &SQLFacet{Base: base(sqlFacetURL), Query: n.compiledCode, Dialect: b.adapter}
	}
	if n.description != "" {
		job.Facets.Documentation = &DocumentationFacet{Base: base(docJobFacetURL), Description: n.description, ContentType: "text/markdown"}
	}
	if n.owner != "" {
		job.Facets.Ownership = &OwnershipFacet{Base: base(ownJobFacetURL), Owners: []Owner{{Name: n.owner}}}
	}
	if len(n.tags) > 0 {
		t := &TagsFacet{Base: base(tagsJobFacetURL)}
		for _, tag := range n.tags {
			t.Tags = append(t.Tags, Tag{Key: tag, Value: "true", Source: "DBT"})
		}
		job.Facets.Tags = t
	}
	return job
}

// inputs are the datasets n reads: its upstream relations, through
// ephemeral models; a test's results are assertions on the dataset (and
// column) it tests.
func (b *builder) inputs(n *node) []InputDataset {
	out := []InputDataset{}
	seen := map[string]bool{}
	var add func(id string, depth int)
	add = func(id string, depth int) {
		r := b.c.relations[id]
		if r == nil || seen[id] || depth > 32 {
			return
		}
		seen[id] = true
		if r.ephemeral {
			for _, up := range r.dependsOn {
				add(up, depth+1)
			}
			return
		}
		ds, ok := b.dataset(r, false)
		if !ok {
			return
		}
		in := InputDataset{Dataset: ds}
		if a := b.assertion(n, id); a != nil {
			in.InputFacets = &InputFacets{DataQualityAssertions: &AssertionsFacet{Base: base(assertionsFacetURL), Assertions: []Assertion{*a}}}
		}
		out = append(out, in)
	}
	for _, id := range n.dependsOn {
		add(id, 0)
	}
	return out
}

// assertion is a test node's result as an assertion on the relation id, if
// the test tests it (its attached node, or, for a test without one, every
// relation it depends on).
func (b *builder) assertion(n *node, id string) *Assertion {
	if n.resourceType != "test" {
		return nil
	}
	var attached, col, kind, severity string
	if n.test != nil {
		attached, col, kind, severity = n.test.AttachedNode, n.test.ColumnName, n.test.TestName, strings.ToLower(n.test.Severity)
	}
	if attached != "" && attached != id {
		return nil
	}
	return &Assertion{Assertion: cmp.Or(kind, n.name), Success: strings.EqualFold(n.status, "pass") || strings.EqualFold(n.status, "success"),
		Column: col, Severity: severity, Name: n.name}
}

// dataset is r named by the naming conventions, with its facets: the data
// source always; on outputs the schema, documentation, ownership and tags;
// on inputs the schema only of a relation with no run of its own in this
// harvest (a source, a model not selected), since a node's own run carries
// its dataset's facets: a test of a model does not repeat its columns.
func (b *builder) dataset(r *relation, output bool) (Dataset, bool) {
	name := datasetName(b.adapter, r.database, r.schema, r.identifier)
	if name == "" {
		return Dataset{}, false
	}
	f := &DatasetFacets{DataSource: dataSource(b.dsNS)}
	if r.hasColumns && (output || !b.c.ran[r.uniqueID]) {
		s := &SchemaFacet{Base: base(schemaFacetURL), Fields: make([]Field, 0, len(r.columns))}
		for _, c := range r.columns {
			s.Fields = append(s.Fields, Field{Name: c.name, Type: c.typ, Description: c.description, OrdinalPosition: c.index})
		}
		f.Schema = s
	}
	if output {
		if r.description != "" {
			f.Documentation = &DocumentationFacet{Base: base(docDatasetFacetURL), Description: r.description, ContentType: "text/markdown"}
		}
		if r.owner != "" {
			f.Ownership = &OwnershipFacet{Base: base(ownDatasetFacetURL), Owners: []Owner{{Name: r.owner}}}
		}
		var tags []Tag
		for _, t := range r.tags {
			tags = append(tags, Tag{Key: t, Value: "true", Source: "DBT"})
		}
		for _, c := range r.columns {
			for _, t := range c.tags {
				tags = append(tags, Tag{Key: t, Value: "true", Source: "DBT", Field: c.name})
			}
		}
		if len(tags) > 0 {
			f.Tags = &TagsFacet{Base: base(tagsDatasetFacetURL), Tags: tags}
		}
	}
	return Dataset{Namespace: b.dsNS, Name: name, Facets: f}, true
}
