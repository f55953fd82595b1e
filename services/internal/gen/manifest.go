package gen

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strings"
)

func ptr[T any](v T) *T { return &v }

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// rng is node i's own random stream, so text does not depend on write order.
func (p *plan) rng(i int32, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(p.opts.Seed)^(stream<<56), uint64(i)))
}

// createdAt is the parse time dbt stamps on a node, shortly before the run.
func (p *plan) createdAt(i int32) float64 {
	return float64(p.opts.GeneratedAt.Unix()-90) + float64(i%50000)*0.0013
}

func (p *plan) writeManifest(j *jsonWriter) {
	top := j.open("")
	top.member("metadata", p.manifestMetadata())
	p.writeNodes(top.nested("nodes"))
	p.writeSources(top.nested("sources"))
	p.writeMacros(top.nested("macros"))
	top.member("docs", p.docs())
	p.writeExposures(top.nested("exposures"))
	p.writeMetrics(top.nested("metrics"))
	top.member("groups", p.groupDefs())
	top.member("selectors", p.selectors())
	p.writeDisabled(top.nested("disabled"))
	p.writeParentMap(top.nested("parent_map"))
	p.writeChildMap(top.nested("child_map"))
	top.member("group_map", p.groupMap())
	p.writeSavedQueries(top.nested("saved_queries"))
	p.writeSemanticModels(top.nested("semantic_models"))
	p.writeUnitTests(top.nested("unit_tests"))
	top.close()
}

type manifestMetadata struct {
	DBTSchemaVersion        string            `json:"dbt_schema_version"`
	DBTVersion              string            `json:"dbt_version"`
	GeneratedAt             string            `json:"generated_at"`
	InvocationID            string            `json:"invocation_id"`
	Env                     map[string]string `json:"env"`
	ProjectName             string            `json:"project_name"`
	ProjectID               string            `json:"project_id"`
	UserID                  *string           `json:"user_id"`
	SendAnonymousUsageStats bool              `json:"send_anonymous_usage_stats"`
	AdapterType             string            `json:"adapter_type"`
}

func (p *plan) manifestMetadata() manifestMetadata {
	return manifestMetadata{
		DBTSchemaVersion: "https://schemas.getdbt.com/dbt/manifest/v12.json",
		DBTVersion:       p.opts.DBTVersion,
		GeneratedAt:      timestamp(p.opts.GeneratedAt),
		InvocationID:     p.opts.InvocationID,
		Env:              map[string]string{},
		ProjectName:      p.opts.ProjectName,
		ProjectID:        md5hex(p.opts.ProjectName),
		AdapterType:      p.d.name,
	}
}

// isNode reports whether k is listed under the manifest's "nodes".
func isNode(k kind) bool {
	return k == kindModel || k == kindSeed || k == kindSnapshot || k == kindAnalysis || k == kindTest
}

func (p *plan) writeNodes(o *object) {
	for i := range p.nodes {
		if n := &p.nodes[i]; isNode(n.kind) {
			o.member(n.uid, p.manifestNode(int32(i), n))
		}
	}
	o.close()
}

func (p *plan) manifestNode(i int32, n *node) any {
	switch n.kind {
	case kindSeed:
		return p.seedNode(i, n)
	case kindSnapshot:
		return p.snapshotNode(i, n)
	case kindAnalysis:
		return p.analysisNode(i, n)
	case kindTest:
		return p.testNode(i, n)
	}
	return p.modelNode(i, n)
}

// modelDir is the folder under models/ holding a model and its YAML.
func (p *plan) modelDir(n *node) string {
	switch {
	case n.layer == layerStaging && p.nodes[n.parents[0]].kind == kindSource:
		return "staging/" + p.groups[n.src].name
	case n.layer == layerStaging:
		return "staging/reference"
	case n.layer == layerIntermediate:
		return "intermediate/" + n.ent.plural
	case n.group >= 0:
		return "marts/" + p.mgroups[n.group].name
	}
	return "marts/core"
}

func (p *plan) yamlPath(n *node) string {
	dir := p.modelDir(n)
	return "models/" + dir + "/_" + dir[strings.LastIndexByte(dir, '/')+1:] + "__models.yml"
}

// base fills what every node shares.
func (p *plan) base(i int32, n *node, path, orig string, fqn []string) manifestNode {
	db, schema, alias := p.location(n)
	var rel *string
	if n.kind != kindTest && n.kind != kindAnalysis {
		rel = ptr(p.d.relation(db, schema, alias))
	}
	return manifestNode{
		Database: db, Schema: schema, Name: n.name, ResourceType: n.kind.String(), PackageName: p.opts.ProjectName,
		Path: path, OriginalFilePath: orig, UniqueID: n.uid, FQN: fqn, Alias: alias,
		Tags: []string{}, Columns: columnMap{}, Meta: object0{}, Docs: docsConfig{Show: true},
		BuildPath: ptr("target/run/" + p.opts.ProjectName + "/" + orig), UnrenderedConfig: object0{},
		CreatedAt: p.createdAt(i), RelationName: rel,
	}
}

func (p *plan) defaultConfig(mat string, tags []string, meta object0) nodeConfig {
	return nodeConfig{
		Enabled: true, Tags: tags, Meta: meta, Materialized: mat, Lookback: 1, PersistDocs: object0{},
		PostHook: []any{}, PreHook: []any{}, Quoting: object0{}, ColumnTypes: object0{}, OnSchemaChange: "ignore",
		OnConfigurationChange: "apply", Grants: object0{}, Packages: []string{}, Docs: docsConfig{Show: true},
		Contract: contractConfig{AliasTypes: true},
	}
}

func (p *plan) modelMeta(n *node) object0 {
	m := object0{"owner": "analytics-engineering@acme.example", "tier": 3 - int(n.layer) + 1}
	if n.group >= 0 {
		m["owner"] = p.mgroups[n.group].email
	}
	for _, c := range n.cols {
		if c.name == "email" {
			m["contains_pii"] = true
		}
	}
	return m
}

func (p *plan) modelNode(i int32, n *node) manifestNode {
	dir := p.modelDir(n)
	path := dir + "/" + n.name + ".sql"
	fqn := slices.Concat([]string{p.opts.ProjectName}, strings.Split(dir, "/"), []string{n.name})
	mn := p.base(i, n, path, "models/"+path, fqn)
	prose := p.description(i)
	mn.RawCode = p.modelSQL(i, prose, false)
	mn.Checksum = fileHash{"sha256", sha(mn.RawCode)}
	mn.Tags, mn.Meta, mn.Description = p.modelTags(n), p.modelMeta(n), prose
	mn.Columns = p.columnInfos(i, n)
	mn.PatchPath = ptr(p.opts.ProjectName + "://" + p.yamlPath(n))
	cfg := p.defaultConfig(n.mat, mn.Tags, mn.Meta)
	cfg.Enabled = !n.disabled
	cfg.Schema = ptr(n.layer.dir())
	access := "protected"
	if n.public {
		access = "public"
	}
	cfg.modelConfigExtra = &modelConfigExtra{Access: access}
	cfg.Contract.Enforced = n.contract
	if n.group >= 0 {
		mn.Group = &p.mgroups[n.group].name
		cfg.Group = mn.Group
	}
	if n.mat == "incremental" {
		cfg.IncrementalStrategy = ptr(p.incrementalStrategy())
		cfg.UniqueKey = ptr(n.ent.pk())
		cfg.OnSchemaChange = "append_new_columns"
	}
	if n.public {
		cfg.Grants = object0{"select": []string{"reporter", "bi_service"}}
	}
	mn.Config = cfg
	mn.UnrenderedConfig = object0{"materialized": n.mat, "schema": n.layer.dir(), "tags": mn.Tags}
	mn.codeTail = p.codeTail(i, n, mn.RawCode, p.modelSQL(i, prose, true), "models/"+path)
	mn.codeTail.Contract.Enforced = n.contract
	mn.modelTail = &modelTail{Access: access, Constraints: []any{}, PrimaryKey: []string{n.ent.pk()}}
	return mn
}

func (p *plan) incrementalStrategy() string {
	switch p.d.name {
	case "postgres", "redshift", "duckdb":
		return "delete+insert"
	}
	return "merge"
}

// codeTail fills refs, sources and depends_on from the node's parents.
func (p *plan) codeTail(i int32, n *node, raw, compiled, orig string) *codeTail {
	ct := &codeTail{
		Language: "sql", Refs: []refArgs{}, Sources: [][]string{}, Metrics: [][]string{},
		DependsOn:    dependsOn{Macros: p.macrosUsed(raw), Nodes: []string{}},
		CompiledPath: ptr("target/compiled/" + p.opts.ProjectName + "/" + orig),
		Compiled:     true, CompiledCode: compiled, ExtraCTEsInjected: true, ExtraCTEs: []any{},
		Contract: nodeContract{AliasTypes: true},
	}
	for _, par := range n.parents {
		pn := &p.nodes[par]
		ct.DependsOn.Nodes = append(ct.DependsOn.Nodes, pn.uid)
		if pn.kind == kindSource {
			ct.Sources = append(ct.Sources, []string{p.groups[pn.src].name, pn.name})
		} else {
			ct.Refs = append(ct.Refs, refArgs{Name: pn.name})
		}
	}
	return ct
}

// macrosUsed lists the macros a raw SQL text calls, as dbt records them.
func (p *plan) macrosUsed(raw string) []string {
	calls := [][2]string{
		{"cents_to_dollars(", "macro." + p.opts.ProjectName + ".cents_to_dollars"},
		{"dbt.current_timestamp(", "macro.dbt.current_timestamp"},
		{"dbt.date_trunc(", "macro.dbt.date_trunc"},
		{"dbt.type_string(", "macro.dbt.type_string"},
		{"dbt.type_timestamp(", "macro.dbt.type_timestamp"},
		{"is_incremental(", "macro.dbt.is_incremental"},
	}
	out := []string{}
	for _, c := range calls {
		if strings.Contains(raw, c[0]) {
			out = append(out, c[1])
		}
	}
	return out
}

func (p *plan) description(i int32) string {
	n := &p.nodes[i]
	t := text{p.rng(i, 1)}
	switch n.kind {
	case kindSeed:
		return "Reference list of " + n.ent.human() + " codes, maintained by hand in the repository."
	case kindSnapshot:
		return "Type 2 history of " + n.name[5:] + ", one row per version of each record."
	case kindSource:
		return t.modelDescription("source", n.ent.human()+" as loaded by "+p.groups[n.src].sys.loader)
	}
	return t.modelDescription(n.layer.dir(), n.ent.human())
}

func (p *plan) columnInfos(i int32, n *node) columnMap {
	t := text{p.rng(i, 2)}
	out := make(columnMap, 0, len(n.cols))
	for k, c := range n.cols {
		ci := columnInfo{Name: c.name, Description: t.columnDescription(c.what, n.ent.human()), Meta: object0{},
			Constraints: []columnConstraint{}, Tags: []string{}}
		if c.declared {
			ci.DataType = &p.d.yamlTypes[c.typ]
		}
		if c.name == "email" {
			ci.Meta["pii"] = true
			ci.Tags = []string{"pii"}
		}
		if n.contract && k == 0 {
			ci.Constraints = []columnConstraint{{Type: "not_null", WarnUnenforced: true, WarnUnsupported: true, ToColumns: []string{}}}
		}
		out = append(out, ci)
	}
	return out
}

func (p *plan) seedNode(i int32, n *node) seedNode {
	mn := p.base(i, n, n.name+".csv", "seeds/"+n.name+".csv", []string{p.opts.ProjectName, n.name})
	mn.Checksum = fileHash{"sha256", sha(p.seedCSV(n))}
	mn.Description = p.description(i)
	mn.Columns = p.columnInfos(i, n)
	mn.PatchPath = ptr(p.opts.ProjectName + "://seeds/_seeds.yml")
	cfg := p.defaultConfig("seed", []string{}, object0{})
	cfg.Schema = ptr("seeds")
	cfg.seedConfigExtra = &seedConfigExtra{Delimiter: ","}
	mn.Config = cfg
	mn.UnrenderedConfig = object0{"schema": "seeds"}
	return seedNode{manifestNode: mn, RootPath: "/usr/src/dbt-server-shared/working_dir/" + p.opts.ProjectName,
		DependsOn: macroDepends{Macros: []string{}}}
}

// seedCSV is the seed file's content, a few rows per code.
func (p *plan) seedCSV(n *node) string {
	var b strings.Builder
	for k, c := range n.cols {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.name)
	}
	for r := range 12 {
		b.WriteString("\n" + strings.ToUpper(n.ent.name[:2]) + itoa(100+r) + "," + n.ent.human() + " " + itoa(r) + "," + itoa(r) + ",true,2020-01-01")
	}
	return b.String()
}

func (p *plan) snapshotNode(i int32, n *node) manifestNode {
	mn := p.base(i, n, n.name+".sql", "snapshots/"+n.name+".sql", []string{p.opts.ProjectName, n.name, n.name})
	mn.RawCode = p.snapshotSQL(n, false)
	mn.Checksum = fileHash{"sha256", sha(mn.RawCode)}
	mn.Description = p.description(i)
	cfg := p.defaultConfig("snapshot", []string{}, object0{})
	cfg.UniqueKey = ptr("id")
	cfg.snapshotConfigExtra = &snapshotConfigExtra{Strategy: "timestamp", TargetSchema: "snapshots", UpdatedAt: "updated_at",
		SnapshotMetaColumnNames: map[string]*string{"dbt_valid_to": nil, "dbt_valid_from": nil, "dbt_scd_id": nil, "dbt_updated_at": nil}}
	mn.Config = cfg
	mn.UnrenderedConfig = object0{"target_schema": "snapshots", "unique_key": "id", "strategy": "timestamp", "updated_at": "updated_at"}
	mn.codeTail = p.codeTail(i, n, mn.RawCode, p.snapshotSQL(n, true), "snapshots/"+n.name+".sql")
	return mn
}

func (p *plan) analysisNode(i int32, n *node) manifestNode {
	orig := "analyses/" + n.name + ".sql"
	mn := p.base(i, n, "analysis/"+n.name+".sql", orig, []string{p.opts.ProjectName, "analysis", n.name})
	mn.RawCode = p.analysisSQL(n, false)
	mn.Checksum = fileHash{"sha256", sha(mn.RawCode)}
	mn.Description = "Ad-hoc analysis of monthly revenue movements; not materialized."
	mn.Config = p.defaultConfig("view", []string{}, object0{})
	mn.BuildPath = nil
	mn.codeTail = p.codeTail(i, n, mn.RawCode, p.analysisSQL(n, true), orig)
	return mn
}
