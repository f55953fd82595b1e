package gen

import (
	"slices"
	"strings"
)

// testOrigin is the YAML file that declares tests on n, dbt's file_key_name
// for it, and the folders of n that prefix the test's fqn.
func (p *plan) testOrigin(n *node) (yml, fileKey string, dirs []string) {
	switch n.kind {
	case kindSource:
		g := p.groups[n.src].name
		return "models/staging/" + g + "/_" + g + "__sources.yml", "sources." + g, []string{"staging", g}
	case kindSeed:
		return "seeds/_seeds.yml", "seeds." + n.name, nil
	}
	return p.yamlPath(n), "models." + n.name, strings.Split(p.modelDir(n), "/")
}

func (p *plan) testConfig(warn bool) testConfig {
	c := testConfig{Enabled: true, Schema: "dbt_test__audit", Tags: []string{}, Meta: object0{}, Materialized: "test",
		Severity: "ERROR", FailCalc: "count(*)", WarnIf: "!= 0", ErrorIf: "!= 0"}
	if warn {
		c.Severity = "warn"
	}
	return c
}

func (p *plan) testNode(i int32, n *node) manifestNode {
	t := n.test
	if t.macro == "" {
		return p.singularNode(i, n)
	}
	att := &p.nodes[t.attached]
	yml, fileKey, dirs := p.testOrigin(att)
	fqn := slices.Concat([]string{p.opts.ProjectName}, dirs, []string{t.fullName})
	mn := p.base(i, n, n.name+".sql", yml, fqn)
	mn.Checksum = fileHash{"none", ""}
	mn.RawCode = p.testSQL(n, false)
	mn.Config = p.testConfig(t.warn)
	if t.warn {
		mn.UnrenderedConfig = object0{"severity": "warn"}
	}
	mn.BuildPath = ptr("target/run/" + p.opts.ProjectName + "/" + yml + "/" + n.name + ".sql")
	mn.codeTail = p.codeTail(i, n, mn.RawCode, p.testSQL(n, true), yml+"/"+n.name+".sql")
	mn.codeTail.DependsOn.Macros = []string{"macro.dbt.test_" + t.macro, "macro.dbt.get_where_subquery"}
	mn.testTail = &testTail{ColumnName: &t.col, FileKeyName: &fileKey, TestMetadata: p.testMetadata(t, att)}
	if att.kind != kindSource {
		mn.testTail.AttachedNode = &att.uid
	}
	return mn
}

func (p *plan) testMetadata(t *testSpec, att *node) *testMetadata {
	target := "ref('" + att.name + "')"
	if att.kind == kindSource {
		target = "source('" + p.groups[att.src].name + "', '" + att.name + "')"
	}
	kw := object0{"column_name": t.col, "model": "{{ get_where_subquery(" + target + ") }}"}
	switch t.macro {
	case "relationships":
		kw["to"] = "ref('" + p.nodes[t.to].name + "')"
		kw["field"] = t.field
	case "accepted_values":
		kw["values"] = t.values
	}
	return &testMetadata{Name: t.macro, Kwargs: kw}
}

func (p *plan) singularNode(i int32, n *node) manifestNode {
	orig := "tests/" + n.name + ".sql"
	mn := p.base(i, n, n.name+".sql", orig, []string{p.opts.ProjectName, n.name})
	mn.RawCode = p.testSQL(n, false)
	mn.Checksum = fileHash{"sha256", sha(mn.RawCode)}
	mn.Config = p.testConfig(false)
	mn.codeTail = p.codeTail(i, n, mn.RawCode, p.testSQL(n, true), orig)
	return mn
}
