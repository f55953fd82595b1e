package openlineage

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
)

func at(sec float64) *time.Time {
	t := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(sec * float64(time.Second)))
	return &t
}

func i64(n int64) *int64 { return &n }

func ran(status string, from, to float64) *events.Result {
	return &events.Result{Status: status, CompileStarted: at(from), CompileDone: at(from + 0.1),
		ExecuteStarted: at(from + 0.1), ExecuteDone: at(to), ExecutionTime: to - from}
}

// smallProject is a harvest's assets: a source read through an ephemeral
// model, a table that succeeds, a model that fails, a failing test on a
// column, a seed, a skipped model and an exposure (no run).
func smallProject() []events.Asset {
	ref := events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 5}
	return []events.Asset{
		{RunRef: ref, UniqueID: "model.p.stg_orders", ResourceType: "model", Name: "stg_orders", Materialization: "ephemeral",
			DependsOn: []string{"source.p.raw.orders"}},
		{RunRef: ref, UniqueID: "model.p.orders", ResourceType: "model", Name: "orders", Database: "db", Schema: "analytics",
			Identifier: "orders", Materialization: "table", Description: "One row per order.", Owner: "ann@example.com",
			Tags: []string{"finance"}, Language: "sql", DependsOn: []string{"model.p.stg_orders"},
			CompiledCode: "select * from \"db\".\"raw\".\"orders\" where amount > 0",
			Columns: []events.Column{{Name: "id", DataType: "integer", Description: "Order id.", Index: 1, Tags: []string{"pii"}},
				{Name: "amount", DataType: "numeric(10,2)", Index: 2}},
			Result: func() *events.Result { r := ran("success", 1, 3); r.RowsAffected = i64(42); return r }()},
		{RunRef: ref, UniqueID: "model.p.broken", ResourceType: "model", Name: "broken", Database: "db", Schema: "analytics",
			Identifier: "broken", Materialization: "view", DependsOn: []string{"model.p.orders", "seed.p.countries"},
			Result: func() *events.Result {
				r := ran("error", 4, 5)
				r.Message = `relation "db.analytics.nope" does not exist`
				return r
			}()},
		{RunRef: ref, UniqueID: "test.p.not_null_orders_id.abc", ResourceType: "test", Name: "not_null_orders_id",
			DependsOn: []string{"model.p.orders"}, CompiledCode: "select * from db.analytics.orders where id is null",
			Test:   &events.TestInfo{TestName: "not_null", AttachedNode: "model.p.orders", ColumnName: "id", Severity: "ERROR"},
			Result: func() *events.Result { r := ran("fail", 3.5, 4); r.Failures = i64(2); return r }()},
		{RunRef: ref, UniqueID: "seed.p.countries", ResourceType: "seed", Name: "countries", Database: "db", Schema: "analytics",
			Identifier: "countries", Result: ran("success", 0.5, 0.9)},
		{RunRef: ref, UniqueID: "model.p.later", ResourceType: "model", Name: "later", Database: "db", Schema: "analytics",
			Identifier: "later", DependsOn: []string{"model.p.broken"}, Result: &events.Result{Status: "skipped"}},
		{RunRef: ref, UniqueID: "source.p.raw.orders", ResourceType: "source", Name: "orders", Database: "db", Schema: "raw",
			Identifier: "orders", Columns: []events.Column{{Name: "id", DataType: "integer"}}},
		{RunRef: ref, UniqueID: "exposure.p.dash", ResourceType: "exposure", Name: "dash", DependsOn: []string{"model.p.orders"}},
	}
}

func smallHarvest() Harvest {
	return Harvest{
		Run: events.RunFacts{RunRef: events.RunRef{AccountID: 1, ProjectID: 2, EnvironmentID: 3, JobID: 4, RunID: 5},
			JobName: "Nightly", ProjectName: "Analytics", EnvironmentName: "Production", Status: "Error",
			StatusMessage: "1 of 5 models failed", DBTVersion: "1.9.4", StartedAt: at(0), FinishedAt: at(10)},
		Generation: 1,
		Project:    &events.ProjectInfo{Name: "p", DBTVersion: "1.9.4", AdapterType: "postgres", InvocationID: "inv-1"},
	}
}

func collect(assets []events.Asset) *Collector {
	c := &Collector{}
	for _, a := range assets {
		c.Add(a)
	}
	return c
}

var smallOptions = Options{Namespace: "analytics", DatasetNamespaces: map[int64]string{3: "postgres://db.example.com:5432"}}

func TestBuildSmallProject(t *testing.T) {
	evs, warnings := Build(smallHarvest(), collect(smallProject()), smallOptions)
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none (the namespace is configured)", warnings)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Node+" "+e.RunEvent.EventType+" "+e.RunEvent.EventTime[11:23])
	}
	want := []string{
		" START 10:00:00.000",
		"seed.p.countries START 10:00:00.500",
		"seed.p.countries COMPLETE 10:00:00.900",
		"model.p.orders START 10:00:01.000",
		"model.p.orders COMPLETE 10:00:03.000",
		"test.p.not_null_orders_id.abc START 10:00:03.500",
		"model.p.broken START 10:00:04.000",
		"test.p.not_null_orders_id.abc FAIL 10:00:04.000",
		"model.p.broken FAIL 10:00:05.000",
		" FAIL 10:00:10.000",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	byKey := map[string]RunEvent{}
	for _, e := range evs {
		byKey[e.Node+" "+e.RunEvent.EventType] = e.RunEvent
	}
	parent := byKey[" START"]
	if parent.Job.Namespace != "analytics" || parent.Job.Name != "dbt_cloud.1.2.3.4" || parent.Job.Facets.JobType.JobType != "JOB" {
		t.Errorf("parent job = %+v", parent.Job)
	}
	if f := parent.Run.Facets.DbtCloudRun; f == nil || f.Run.JobName != "Nightly" || f.Generation != 1 {
		t.Errorf("parent dbtCloudRun facet = %+v", f)
	}
	end := byKey[" FAIL"]
	if end.Run.RunID != parent.Run.RunID || end.Run.Facets.ErrorMessage == nil || end.Run.Facets.ErrorMessage.Message != "1 of 5 models failed" {
		t.Errorf("parent end = %+v", end.Run)
	}

	orders := byKey["model.p.orders COMPLETE"]
	if p := orders.Run.Facets.Parent; p == nil || p.Run.RunID != parent.Run.RunID || p.Job != (JobRef{"analytics", "dbt_cloud.1.2.3.4"}) || p.Root == nil {
		t.Errorf("orders parent facet = %+v, want the dbt Cloud run", p)
	}
	if orders.Job.Name != "dbt_cloud.1.2.3.4.model.p.orders" || orders.Job.Facets.SQL == nil || orders.Job.Facets.SQL.Dialect != "postgres" ||
		!strings.Contains(orders.Job.Facets.SQL.Query, "amount > 0") || orders.Job.Facets.JobType.Integration != "DBT" ||
		orders.Job.Facets.Ownership.Owners[0].Name != "ann@example.com" || orders.Job.Facets.Tags.Tags[0].Key != "finance" {
		t.Errorf("orders job = %+v", orders.Job)
	}
	if e := orders.Run.Facets.ProcessingEngine; e == nil || e.Version != "1.9.4" || e.Name != "dbt" {
		t.Errorf("orders processing_engine = %+v", e)
	}
	if len(orders.Inputs) != 1 || orders.Inputs[0].Name != "db.raw.orders" || orders.Inputs[0].Namespace != "postgres://db.example.com:5432" {
		t.Errorf("orders inputs = %+v, want the source through the ephemeral model", orders.Inputs)
	}
	if len(orders.Outputs) != 1 || orders.Outputs[0].Name != "db.analytics.orders" {
		t.Fatalf("orders outputs = %+v", orders.Outputs)
	}
	out := orders.Outputs[0]
	if f := out.Facets; f.Schema.Fields[1] != (Field{Name: "amount", Type: "numeric(10,2)", OrdinalPosition: 2}) ||
		f.Documentation.Description != "One row per order." || f.DataSource.URI != "postgres://db.example.com:5432" ||
		!slices.Contains(f.Tags.Tags, Tag{Key: "pii", Value: "true", Source: "DBT", Field: "id"}) {
		t.Errorf("orders output facets = %+v", f)
	}
	if out.OutputFacets == nil || out.OutputFacets.OutputStatistics.RowCount != 42 {
		t.Errorf("orders outputStatistics = %+v, want 42 rows", out.OutputFacets)
	}
	if start := byKey["model.p.orders START"]; start.Outputs[0].OutputFacets != nil || start.Run.RunID != orders.Run.RunID {
		t.Errorf("orders START = %+v, want the same run, no statistics yet", start)
	}

	broken := byKey["model.p.broken FAIL"]
	if broken.Run.Facets.ErrorMessage == nil || !strings.Contains(broken.Run.Facets.ErrorMessage.Message, "does not exist") ||
		broken.Run.Facets.ErrorMessage.ProgrammingLanguage != "SQL" {
		t.Errorf("broken errorMessage = %+v", broken.Run.Facets.ErrorMessage)
	}
	if names := datasetNames(broken.Inputs); !slices.Equal(names, []string{"db.analytics.orders", "db.analytics.countries"}) {
		t.Errorf("broken inputs = %v", names)
	}

	test := byKey["test.p.not_null_orders_id.abc FAIL"]
	if len(test.Inputs) != 1 || test.Inputs[0].InputFacets == nil || len(test.Outputs) != 0 {
		t.Fatalf("test inputs = %+v outputs %+v", test.Inputs, test.Outputs)
	}
	wantA := Assertion{Assertion: "not_null", Success: false, Column: "id", Severity: "error", Name: "not_null_orders_id"}
	if a := test.Inputs[0].InputFacets.DataQualityAssertions.Assertions; len(a) != 1 || a[0] != wantA {
		t.Errorf("test assertions = %+v, want %+v", a, wantA)
	}
	if test.Job.Facets.JobType.JobType != "TEST" {
		t.Errorf("test jobType = %+v", test.Job.Facets.JobType)
	}
}

func datasetNames(in []InputDataset) []string {
	var out []string
	for _, d := range in {
		out = append(out, d.Name)
	}
	return out
}

// TestEventsValidateAgainstSpec: every event of the small project (and of
// its dbt Core form) is a valid RunEvent, and each facet is valid against
// the schema its _schemaURL names.
func TestEventsValidateAgainstSpec(t *testing.T) {
	v := newSpecValidator(t)
	core := smallHarvest()
	core.Run = events.RunFacts{}
	for name, h := range map[string]Harvest{"dbt Cloud": smallHarvest(), "dbt Core": core} {
		evs, _ := Build(h, collect(smallProject()), smallOptions)
		facets := map[string]bool{}
		for _, e := range evs {
			b, err := Encode(e.RunEvent)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.validate(b); err != nil {
				t.Errorf("%s: %s %s: %v", name, e.Node, e.RunEvent.EventType, err)
			}
			for _, k := range regexp.MustCompile(`"(\w+)":\{"_producer"`).FindAllSubmatch(b, -1) {
				facets[string(k[1])] = true
			}
		}
		if name == "dbt Cloud" {
			for _, f := range []string{"schema", "dataSource", "documentation", "ownership", "sql", "jobType", "processing_engine",
				"errorMessage", "tags", "dataQualityAssertions", "parent", "dbtCloudRun", "outputStatistics"} {
				if !facets[f] {
					t.Errorf("no event has facet %s", f)
				}
			}
		}
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	a, _ := Build(smallHarvest(), collect(smallProject()), smallOptions)
	b, _ := Build(smallHarvest(), collect(smallProject()), smallOptions)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Error("the same harvest built twice gives different events")
	}
	h2 := smallHarvest()
	h2.Generation = 2
	c, _ := Build(h2, collect(smallProject()), smallOptions)
	ids := map[string]bool{}
	uuidV5Form := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for i := range a {
		if !uuidV5Form.MatchString(a[i].RunEvent.Run.RunID) {
			t.Errorf("run ID %q is not a UUIDv5", a[i].RunEvent.Run.RunID)
		}
		if a[i].RunEvent.Run.RunID == c[i].RunEvent.Run.RunID {
			t.Errorf("%s: generation 2 has the run ID of generation 1", a[i].Node)
		}
		ids[a[i].Node] = true
	}
	if len(ids) != 5 { // the parent and four executed nodes
		t.Errorf("%d distinct nodes, want 5", len(ids))
	}
	// RFC 9562's example of a UUIDv5: the DNS namespace and "www.example.com".
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got := formatUUID(uuidV5(dns, "www.example.com")); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Errorf("uuidV5(DNS, www.example.com) = %s, want RFC 9562's 2ed6657d-e927-568b-95e1-2665a8aea6a2", got)
	}
}

func TestBuildDbtCore(t *testing.T) {
	h := smallHarvest()
	h.Run = events.RunFacts{}
	evs, warnings := Build(h, collect(smallProject()), Options{})
	first, last := evs[0].RunEvent, evs[len(evs)-1].RunEvent
	if first.Job.Name != "dbt.p" || first.Job.Namespace != DefaultNamespace || first.Run.Facets.DbtCloudRun != nil {
		t.Errorf("dbt Core parent = %+v", first)
	}
	if first.EventTime != eventTime(*at(0.5)) || last.EventTime != eventTime(*at(5)) || last.EventType != Fail {
		t.Errorf("dbt Core parent: %s at %s .. %s at %s, want START at the first node's start, FAIL at the last end",
			first.EventType, first.EventTime, last.EventType, last.EventTime)
	}
	if first.Run.RunID != RunID("core/inv-1/g1", "") {
		t.Errorf("dbt Core parent run ID = %s, want one derived from the invocation", first.Run.RunID)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "postgres://unconfigured") {
		t.Errorf("warnings = %q, want one about the unconfigured namespace", warnings)
	}
}

func TestDatasetNaming(t *testing.T) {
	tests := []struct {
		adapter, db, schema, ident, want, defaultNS string
	}{
		{"postgres", "db", "public", "orders", "db.public.orders", "postgres://unconfigured"},
		{"snowflake", "ANALYTICS", "PROD", "ORDERS", "ANALYTICS.PROD.ORDERS", "snowflake://unconfigured"},
		{"bigquery", "my-project", "dataset", "t", "my-project.dataset.t", "bigquery"},
		{"spark", "", "lake", "events", "lake.events", "spark://unconfigured"},
		{"mysql", "ignored", "shop", "orders", "shop.orders", "mysql://unconfigured"},
		{"sqlserver", "db", "dbo", "t", "db.dbo.t", "mssql://unconfigured"},
		{"duckdb", "", "main", "t", "main.t", "duckdb://unconfigured"},
		{"postgres", "db", "s", "", "", "postgres://unconfigured"},
	}
	for _, tt := range tests {
		if got := datasetName(tt.adapter, tt.db, tt.schema, tt.ident); got != tt.want {
			t.Errorf("datasetName(%s, %q, %q, %q) = %q, want %q", tt.adapter, tt.db, tt.schema, tt.ident, got, tt.want)
		}
		b := newBuilder(Harvest{Project: &events.ProjectInfo{AdapterType: tt.adapter}}, &Collector{}, Options{})
		if b.dsNS != tt.defaultNS {
			t.Errorf("%s: default namespace %q, want %q", tt.adapter, b.dsNS, tt.defaultNS)
		}
	}
}
