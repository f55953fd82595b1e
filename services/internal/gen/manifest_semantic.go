package gen

import (
	"strings"
)

type metricInput struct {
	Name            string  `json:"name"`
	Filter          any     `json:"filter"`
	Alias           *string `json:"alias"`
	JoinToTimespine bool    `json:"join_to_timespine"`
	FillNullsWith   *int    `json:"fill_nulls_with"`
}

type metricTypeParams struct {
	Measure                 *metricInput  `json:"measure"`
	InputMeasures           []metricInput `json:"input_measures"`
	Numerator               any           `json:"numerator"`
	Denominator             any           `json:"denominator"`
	Expr                    *string       `json:"expr"`
	Window                  any           `json:"window"`
	GrainToDate             *string       `json:"grain_to_date"`
	Metrics                 []any         `json:"metrics"`
	ConversionTypeParams    any           `json:"conversion_type_params"`
	CumulativeTypeParams    any           `json:"cumulative_type_params"`
	MetricAggregationParams any           `json:"metric_aggregation_params"`
}

type metric struct {
	Name             string           `json:"name"`
	ResourceType     string           `json:"resource_type"`
	PackageName      string           `json:"package_name"`
	Path             string           `json:"path"`
	OriginalFilePath string           `json:"original_file_path"`
	UniqueID         string           `json:"unique_id"`
	FQN              []string         `json:"fqn"`
	Description      string           `json:"description"`
	Label            string           `json:"label"`
	Type             string           `json:"type"`
	TypeParams       metricTypeParams `json:"type_params"`
	Filter           any              `json:"filter"`
	Metadata         any              `json:"metadata"`
	TimeGranularity  *string          `json:"time_granularity"`
	Meta             object0          `json:"meta"`
	Tags             []string         `json:"tags"`
	Config           object0          `json:"config"`
	UnrenderedConfig object0          `json:"unrendered_config"`
	Sources          [][]string       `json:"sources"`
	DependsOn        dependsOn        `json:"depends_on"`
	Refs             []refArgs        `json:"refs"`
	Metrics          [][]string       `json:"metrics"`
	CreatedAt        float64          `json:"created_at"`
	Group            *string          `json:"group"`
}

func (p *plan) groupName(g int8) *string {
	if g < 0 {
		return nil
	}
	return &p.mgroups[g].name
}

func (p *plan) writeMetrics(o *object) {
	for i := range p.nodes {
		n := &p.nodes[i]
		if n.kind != kindMetric {
			continue
		}
		sem := &p.nodes[n.parents[0]]
		in := metricInput{Name: n.name}
		desc := "Simple metric over the " + n.name + " measure."
		for _, ms := range measures(sem.name, p.nodes[sem.parents[0]]) {
			if ms.name == n.name {
				desc = "The " + ms.agg + " of " + ms.expr + " across " + sem.name + "."
			}
		}
		path := "semantic/" + sem.name + ".yml"
		o.member(n.uid, metric{
			Name: n.name, ResourceType: "metric", PackageName: p.opts.ProjectName, Path: path, OriginalFilePath: "models/" + path,
			UniqueID: n.uid, FQN: []string{p.opts.ProjectName, "semantic", n.name}, Description: desc, Label: titleCase(n.name),
			Type: "simple", TypeParams: metricTypeParams{Measure: &in, InputMeasures: []metricInput{in}, Metrics: []any{}},
			Meta: object0{}, Tags: []string{}, Config: object0{"enabled": true, "group": p.groupName(n.group), "meta": object0{}},
			UnrenderedConfig: object0{}, Sources: [][]string{}, DependsOn: dependsOn{Macros: []string{}, Nodes: []string{sem.uid}},
			Refs: []refArgs{}, Metrics: [][]string{}, CreatedAt: p.createdAt(int32(i)), Group: p.groupName(n.group),
		})
	}
	o.close()
}

type slConfig struct {
	Meta object0 `json:"meta"`
}

type semEntity struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Description *string  `json:"description"`
	Label       *string  `json:"label"`
	Role        *string  `json:"role"`
	Expr        string   `json:"expr"`
	Config      slConfig `json:"config"`
}

type semMeasure struct {
	Name                 string   `json:"name"`
	Agg                  string   `json:"agg"`
	Description          string   `json:"description"`
	Label                *string  `json:"label"`
	CreateMetric         bool     `json:"create_metric"`
	Expr                 string   `json:"expr"`
	AggParams            any      `json:"agg_params"`
	NonAdditiveDimension any      `json:"non_additive_dimension"`
	AggTimeDimension     *string  `json:"agg_time_dimension"`
	Config               slConfig `json:"config"`
}

type semDimension struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Description *string  `json:"description"`
	Label       *string  `json:"label"`
	IsPartition bool     `json:"is_partition"`
	TypeParams  any      `json:"type_params"`
	Expr        *string  `json:"expr"`
	Metadata    any      `json:"metadata"`
	Config      slConfig `json:"config"`
}

type semanticModel struct {
	Name             string         `json:"name"`
	ResourceType     string         `json:"resource_type"`
	PackageName      string         `json:"package_name"`
	Path             string         `json:"path"`
	OriginalFilePath string         `json:"original_file_path"`
	UniqueID         string         `json:"unique_id"`
	FQN              []string       `json:"fqn"`
	Model            string         `json:"model"`
	NodeRelation     object0        `json:"node_relation"`
	Description      string         `json:"description"`
	Label            *string        `json:"label"`
	Defaults         object0        `json:"defaults"`
	Entities         []semEntity    `json:"entities"`
	Measures         []semMeasure   `json:"measures"`
	Dimensions       []semDimension `json:"dimensions"`
	Metadata         any            `json:"metadata"`
	DependsOn        dependsOn      `json:"depends_on"`
	Refs             []refArgs      `json:"refs"`
	CreatedAt        float64        `json:"created_at"`
	Config           object0        `json:"config"`
	UnrenderedConfig object0        `json:"unrendered_config"`
	PrimaryEntity    *string        `json:"primary_entity"`
	Group            *string        `json:"group"`
}

func (p *plan) writeSemanticModels(o *object) {
	for i := range p.nodes {
		if n := &p.nodes[i]; n.kind == kindSemanticModel {
			o.member(n.uid, p.semanticModel(int32(i), n))
		}
	}
	o.close()
}

func (p *plan) semanticModel(i int32, n *node) semanticModel {
	m := &p.nodes[n.parents[0]]
	db, schema, alias := p.location(m)
	meta := slConfig{Meta: object0{}}
	sm := semanticModel{
		Name: n.name, ResourceType: "semantic_model", PackageName: p.opts.ProjectName, Path: "semantic/" + n.name + ".yml",
		OriginalFilePath: "models/semantic/" + n.name + ".yml", UniqueID: n.uid, FQN: []string{p.opts.ProjectName, "semantic", n.name},
		Model:        "ref('" + m.name + "')",
		NodeRelation: object0{"alias": alias, "schema_name": schema, "database": db, "relation_name": p.d.relation(db, schema, alias)},
		Description:  "Semantic layer definition over " + m.name + ".", Defaults: object0{"agg_time_dimension": "created_at"},
		Entities:  []semEntity{{Name: m.ent.name, Type: "primary", Expr: m.ent.pk(), Config: meta}},
		DependsOn: dependsOn{Macros: []string{}, Nodes: []string{m.uid}}, Refs: []refArgs{{Name: m.name}},
		CreatedAt: p.createdAt(i), Config: object0{"enabled": true, "group": p.groupName(n.group), "meta": object0{}},
		UnrenderedConfig: object0{}, Group: p.groupName(n.group),
		Dimensions: []semDimension{{Name: "created_at", Type: "time", Config: meta,
			TypeParams: object0{"time_granularity": "day", "validity_params": nil}}},
	}
	for _, c := range m.cols {
		switch {
		case c.fk >= 0:
			sm.Entities = append(sm.Entities, semEntity{Name: strings.TrimSuffix(strings.TrimSuffix(c.name, "_id"), "_code"), Type: "foreign", Expr: c.name, Config: meta})
		case c.status || c.name == "channel" || c.name == "region":
			sm.Dimensions = append(sm.Dimensions, semDimension{Name: c.name, Type: "categorical", Config: meta})
		}
	}
	for _, ms := range measures(n.name, *m) {
		sm.Measures = append(sm.Measures, semMeasure{Name: ms.name, Agg: ms.agg, Expr: ms.expr, Config: meta,
			Description: "The " + ms.agg + " of " + ms.expr + "."})
	}
	return sm
}

func (p *plan) writeSavedQueries(o *object) {
	for i := range p.nodes {
		n := &p.nodes[i]
		if n.kind != kindSavedQuery {
			continue
		}
		var metrics, uids []string
		for _, par := range n.parents {
			metrics, uids = append(metrics, p.nodes[par].name), append(uids, p.nodes[par].uid)
		}
		ent := p.nodes[p.nodes[n.parents[0]].parents[0]].ent.name
		export := object0{"name": n.name,
			"config":            object0{"export_as": "table", "schema_name": p.d.schema("exports"), "alias": n.name, "database": p.d.database},
			"unrendered_config": object0{"export_as": "table"}}
		o.member(n.uid, object0{
			"name": n.name, "resource_type": "saved_query", "package_name": p.opts.ProjectName, "path": "semantic/saved_queries.yml",
			"original_file_path": "models/semantic/saved_queries.yml", "unique_id": n.uid,
			"fqn": []string{p.opts.ProjectName, "semantic", n.name},
			"query_params": object0{"metrics": metrics, "group_by": []string{"TimeDimension('" + ent + "__created_at', 'week')"},
				"where": nil, "order_by": []string{}, "limit": nil},
			"exports": []any{export}, "description": "Weekly KPIs for the leadership dashboard.", "label": "Core KPIs (weekly)",
			"metadata": nil, "config": object0{"enabled": true, "group": nil, "meta": object0{}, "export_as": nil, "schema": nil,
				"cache": object0{"enabled": false}},
			"unrendered_config": object0{}, "group": nil, "depends_on": dependsOn{Macros: []string{}, Nodes: uids},
			"created_at": p.createdAt(int32(i)), "refs": []refArgs{}, "tags": []string{},
		})
	}
	o.close()
}

func fixtureValue(c column, row int) any {
	switch c.typ {
	case typeInt, typeBigint:
		return row + 1
	case typeNumeric:
		return float64(row+1) * 12.5
	case typeTimestamp:
		return "2024-03-0" + itoa(row+1) + " 10:15:00"
	case typeDate:
		return "2024-03-0" + itoa(row+1)
	case typeBool:
		return row%2 == 0
	}
	return c.name + "_" + itoa(row+1)
}

func (p *plan) writeUnitTests(o *object) {
	for i := range p.nodes {
		n := &p.nodes[i]
		if n.kind != kindUnitTest {
			continue
		}
		m := &p.nodes[n.parents[0]]
		src := &p.nodes[m.parents[0]]
		var given, expect []object0
		for r := range 2 {
			in, out := object0{}, object0{}
			for k := range min(3, len(m.cols)) {
				in[src.cols[k].name] = fixtureValue(src.cols[k], r)
				out[m.cols[k].name] = fixtureValue(m.cols[k], r)
			}
			given, expect = append(given, in), append(expect, out)
		}
		_, schema, _ := p.location(m)
		yml := p.yamlPath(m)
		o.member(n.uid, object0{
			"model":  m.name,
			"given":  []any{object0{"input": "source('" + p.groups[src.src].name + "', '" + src.name + "')", "rows": given, "format": "dict", "fixture": nil}},
			"expect": object0{"rows": expect, "format": "dict", "fixture": nil}, "name": n.name, "resource_type": "unit_test",
			"package_name": p.opts.ProjectName, "path": strings.TrimPrefix(yml, "models/"), "original_file_path": yml,
			"unique_id": n.uid, "fqn": append(append([]string{p.opts.ProjectName}, strings.Split(p.modelDir(m), "/")...), m.name, n.name),
			"description": "Checks that " + m.name + " renames the source key and keeps the first columns intact.",
			"overrides":   nil, "depends_on": dependsOn{Macros: []string{}, Nodes: []string{m.uid}},
			"config": object0{"tags": []string{}, "meta": object0{}, "enabled": true}, "checksum": sha(n.uid + m.name),
			"schema": schema, "created_at": p.createdAt(int32(i)), "versions": nil, "version": nil,
		})
	}
	o.close()
}
