package gen

import (
	"strings"
)

func (p *plan) writeSources(o *object) {
	for i := range p.nodes {
		if n := &p.nodes[i]; n.kind == kindSource {
			o.member(n.uid, p.sourceDef(int32(i), n))
		}
	}
	o.close()
}

// freshness is the group's criteria; a group without one has null counts.
func (p *plan) freshness(g sourceGroup) *freshness {
	f := &freshness{}
	if !g.sys.freshness {
		return f
	}
	warn, errAfter := 12, 24
	if g.sys.loader == "snowplow" {
		warn, errAfter = 1, 6
	}
	f.WarnAfter = timeCriterion{Count: ptr(warn), Period: ptr("hour")}
	f.ErrorAfter = timeCriterion{Count: ptr(errAfter), Period: ptr("hour")}
	return f
}

func (p *plan) sourceDef(i int32, n *node) sourceDefinition {
	g := p.groups[n.src]
	yml, _, _ := p.testOrigin(n)
	db, schema, ident := p.location(n)
	return sourceDefinition{
		Database: db, Schema: schema, Name: n.name, ResourceType: "source", PackageName: p.opts.ProjectName,
		Path: yml, OriginalFilePath: yml, UniqueID: n.uid, FQN: []string{p.opts.ProjectName, "staging", g.name, g.name, n.name},
		SourceName: g.name, SourceDescription: g.sys.description, Loader: g.sys.loader, Identifier: ident,
		Quoting:       object0{"database": nil, "schema": nil, "identifier": nil, "column": nil},
		LoadedAtField: ptr(g.sys.loadedAt), Freshness: p.freshness(g), Description: p.description(i),
		Columns: p.columnInfos(i, n), Meta: object0{}, SourceMeta: object0{"connection": g.sys.loader + "_prod"},
		Tags: []string{g.sys.loader}, Config: object0{"enabled": true, "event_time": nil}, UnrenderedConfig: object0{},
		RelationName: p.d.relation(db, schema, ident), CreatedAt: p.createdAt(i),
	}
}

func (p *plan) writeExposures(o *object) {
	for i := range p.nodes {
		if n := &p.nodes[i]; n.kind == kindExposure {
			o.member(n.uid, p.exposure(int32(i), n))
		}
	}
	o.close()
}

func titleCase(s string) string {
	words := strings.Split(s, "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

func (p *plan) exposure(i int32, n *node) exposure {
	r := p.rng(i, 3)
	t := text{r}
	typ := []string{"dashboard", "dashboard", "dashboard", "application", "analysis", "notebook", "ml"}[r.IntN(7)]
	tool := []string{"Looker", "Tableau", "Metabase", "Mode", "Hex"}[r.IntN(5)]
	email := "bi-team@acme.example"
	if g := p.nodes[n.parents[0]].group; g >= 0 {
		email = p.mgroups[g].email
	}
	e := exposure{
		Name: n.name, ResourceType: "exposure", PackageName: p.opts.ProjectName, Path: "marts/_exposures.yml",
		OriginalFilePath: "models/marts/_exposures.yml", UniqueID: n.uid, FQN: []string{p.opts.ProjectName, "marts", n.name},
		Type: typ, Owner: owner{Email: email, Name: t.personName()},
		Description: "The " + titleCase(n.name) + " " + typ + " in " + tool + ", used in the weekly business review.",
		Label:       titleCase(n.name), Maturity: []string{"high", "medium", "low"}[r.IntN(3)],
		Meta: object0{"bi_tool": tool}, Tags: []string{"bi"}, Config: object0{"enabled": true},
		UnrenderedConfig: object0{}, URL: "https://bi.acme.example/" + typ + "s/" + itoa(1000+int(i)),
		DependsOn: dependsOn{Macros: []string{}, Nodes: []string{}}, Refs: []refArgs{}, Sources: [][]string{},
		Metrics: [][]string{}, CreatedAt: p.createdAt(i),
	}
	for _, par := range n.parents {
		e.DependsOn.Nodes = append(e.DependsOn.Nodes, p.nodes[par].uid)
		e.Refs = append(e.Refs, refArgs{Name: p.nodes[par].name})
	}
	return e
}

type docBlock struct {
	Name             string `json:"name"`
	ResourceType     string `json:"resource_type"`
	PackageName      string `json:"package_name"`
	Path             string `json:"path"`
	OriginalFilePath string `json:"original_file_path"`
	UniqueID         string `json:"unique_id"`
	BlockContents    string `json:"block_contents"`
}

func (p *plan) docs() map[string]docBlock {
	pr := p.opts.ProjectName
	blocks := []docBlock{
		{Name: "__overview__", PackageName: "dbt", Path: "overview.md", OriginalFilePath: "docs/overview.md",
			BlockContents: "### Welcome\n\nThis site documents every model, source, test and exposure of the project.\n\nUse the Project tab to browse by folder and the Database tab to browse by schema; the lineage graph shows how data flows."},
		{Name: "__overview__", PackageName: pr, Path: "overview.md", OriginalFilePath: "models/overview.md",
			BlockContents: "# " + titleCase(pr) + "\n\nSources land in the raw database, staging models clean them, intermediate models join them and marts serve the business.\n\nOwners: analytics engineering."},
		{Name: "order_status", PackageName: pr, Path: "docs/statuses.md", OriginalFilePath: "models/docs/statuses.md",
			BlockContents: "One of the following values:\n\n| status | meaning |\n|---|---|\n| placed | not yet shipped |\n| shipped | handed to the carrier |\n| completed | received by the customer |\n| return_pending | return requested |\n| returned | returned and refunded |"},
		{Name: "payment_status", PackageName: pr, Path: "docs/statuses.md", OriginalFilePath: "models/docs/statuses.md",
			BlockContents: "Payment lifecycle: pending, succeeded, failed or refunded."},
	}
	out := map[string]docBlock{}
	for _, b := range blocks {
		b.ResourceType = "doc"
		b.UniqueID = "doc." + b.PackageName + "." + b.Name
		out[b.UniqueID] = b
	}
	return out
}

type groupDef struct {
	Name             string  `json:"name"`
	ResourceType     string  `json:"resource_type"`
	PackageName      string  `json:"package_name"`
	Path             string  `json:"path"`
	OriginalFilePath string  `json:"original_file_path"`
	UniqueID         string  `json:"unique_id"`
	Owner            owner   `json:"owner"`
	Description      string  `json:"description"`
	Config           object0 `json:"config"`
}

func (p *plan) groupDefs() map[string]groupDef {
	out := map[string]groupDef{}
	for _, g := range p.mgroups {
		uid := "group." + p.opts.ProjectName + "." + g.name
		out[uid] = groupDef{Name: g.name, ResourceType: "group", PackageName: p.opts.ProjectName, Path: "marts/_groups.yml",
			OriginalFilePath: "models/marts/_groups.yml", UniqueID: uid, Owner: owner{Email: g.email, Name: g.owner},
			Description: "Models owned by the " + g.name + " data team.", Config: object0{"meta": object0{}}}
	}
	return out
}

func (p *plan) groupMap() map[string][]string {
	out := map[string][]string{}
	for _, g := range p.mgroups {
		out[g.name] = []string{}
	}
	for i := range p.nodes {
		if n := &p.nodes[i]; n.kind == kindModel && n.group >= 0 {
			name := p.mgroups[n.group].name
			out[name] = append(out[name], n.uid)
		}
	}
	return out
}

func (p *plan) selectors() object0 {
	sel := func(name, desc string, def any) object0 {
		return object0{"name": name, "description": desc, "definition": def}
	}
	return object0{
		"nightly":         sel("nightly", "Incremental marts refreshed every night", object0{"method": "tag", "value": "nightly"}),
		"staging":         sel("staging", "All staging models", object0{"method": "path", "value": "models/staging"}),
		"marts_and_tests": sel("marts_and_tests", "Marts with their tests", object0{"union": []any{object0{"method": "path", "value": "models/marts"}, object0{"method": "resource_type", "value": "test", "indirect_selection": "cautious"}}}),
	}
}

func (p *plan) writeDisabled(o *object) {
	for k := range p.disabled {
		n := &p.disabled[k]
		o.member(n.uid, []manifestNode{p.disabledNode(n)})
	}
	o.close()
}

// disabledNode renders a disabled model; it borrows a slot past the plan's nodes.
func (p *plan) disabledNode(n *node) manifestNode {
	tmp := &plan{opts: p.opts, d: p.d, nodes: append(p.nodes[:len(p.nodes):len(p.nodes)], *n), groups: p.groups, mgroups: p.mgroups}
	mn := tmp.modelNode(int32(len(tmp.nodes)-1), n)
	mn.BuildPath = nil
	mn.codeTail.Compiled, mn.codeTail.CompiledCode, mn.codeTail.CompiledPath = false, "", nil
	return mn
}

func (p *plan) writeParentMap(o *object) {
	for i := range p.nodes {
		o.member(p.nodes[i].uid, p.sortedUIDs(p.nodes[i].parents))
	}
	o.close()
}

func (p *plan) writeChildMap(o *object) {
	for i := range p.nodes {
		o.member(p.nodes[i].uid, p.sortedUIDs(p.children[i]))
	}
	o.close()
}
