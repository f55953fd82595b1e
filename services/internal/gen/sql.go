package gen

import (
	"strings"
)

// location is where a node lives in the warehouse.
func (p *plan) location(n *node) (database, schema, identifier string) {
	d := p.d
	switch n.kind {
	case kindSource:
		return d.rawDatabase, d.fold(p.groups[n.src].name), n.name
	case kindSeed:
		return d.database, d.schema("seeds"), n.name
	case kindSnapshot:
		return d.database, d.fold("snapshots"), n.name
	case kindTest:
		return d.database, d.schema("dbt_test__audit"), n.name
	case kindModel:
		return d.database, d.schema(n.layer.dir()), n.name
	}
	return d.database, d.schema(""), n.name
}

func (p *plan) relation(i int32) string {
	db, schema, ident := p.location(&p.nodes[i])
	return p.d.relation(db, schema, ident)
}

// sqlGen writes one SQL text either raw (Jinja) or compiled.
type sqlGen struct {
	p        *plan
	compiled bool
	b        strings.Builder
}

func (g *sqlGen) w(s ...string) {
	for _, x := range s {
		g.b.WriteString(x)
	}
}

// jinja writes raw when raw, else compiled.
func (g *sqlGen) jinja(raw, compiled string) {
	if g.compiled {
		g.b.WriteString(compiled)
	} else {
		g.b.WriteString(raw)
	}
}

func (g *sqlGen) ref(i int32) string {
	if g.compiled {
		return g.p.relation(i)
	}
	n := &g.p.nodes[i]
	if n.kind == kindSource {
		return "{{ source('" + g.p.groups[n.src].name + "', '" + n.name + "') }}"
	}
	return "{{ ref('" + n.name + "') }}"
}

func (g *sqlGen) config(lines ...string) {
	if g.compiled {
		g.w("\n\n")
		return
	}
	g.w("{{\n    config(\n        ", strings.Join(lines, ",\n        "), "\n    )\n}}\n\n")
}

// comment wraps prose into a SQL block comment.
func (g *sqlGen) comment(prose string) {
	g.w("/*\n")
	line := "   "
	for _, word := range strings.Fields(prose) {
		if len(line)+len(word) > 88 {
			g.w(line, "\n")
			line = "   "
		}
		line += " " + word
	}
	g.w(line, "\n*/\n\n")
}

func quoteList(items []string) string {
	return "['" + strings.Join(items, "', '") + "']"
}

func (p *plan) modelTags(n *node) []string {
	tags := []string{n.layer.dir()}
	if n.layer == layerStaging && p.nodes[n.parents[0]].kind == kindSource {
		tags = append(tags, p.groups[n.src].name)
	}
	if n.group >= 0 {
		tags = append(tags, p.mgroups[n.group].name)
	}
	if n.mat == "incremental" {
		tags = append(tags, "nightly")
	}
	return tags
}

// modelSQL is a model's raw or compiled code; prose is its description.
func (p *plan) modelSQL(i int32, prose string, compiled bool) string {
	n := &p.nodes[i]
	g := &sqlGen{p: p, compiled: compiled}
	cfg := []string{"materialized='" + n.mat + "'"}
	if n.mat == "incremental" {
		cfg = append(cfg, "unique_key='"+n.ent.pk()+"'", "on_schema_change='append_new_columns'")
	}
	g.config(append(cfg, "tags="+quoteList(p.modelTags(n)))...)
	g.comment(prose)
	if n.layer == layerStaging {
		g.staging(n)
	} else {
		g.derived(i, n)
	}
	return g.b.String()
}

func (g *sqlGen) staging(n *node) {
	up := &g.p.nodes[n.parents[0]]
	g.w("with\n\nsource as (\n\n    select * from ", g.ref(n.parents[0]), "\n\n),\n\nrenamed as (\n\n    select\n")
	for k, c := range n.cols {
		g.w("        ")
		g.stagingExpr(up, k, c)
		if k < len(n.cols)-1 {
			g.w(",")
		}
		g.w("\n")
	}
	g.w("\n    from source\n")
	if up.kind == kindSource {
		g.w("    where ", g.p.groups[up.src].sys.loadedAt, " is not null\n")
	}
	g.w("\n)\n\nselect * from renamed\n")
}

func (g *sqlGen) stagingExpr(up *node, k int, c column) {
	d := g.p.d
	switch raw := up.cols[k].name; {
	case raw != c.name:
		g.w(raw, " as ", c.name)
	case c.typ == typeNumeric && strings.Contains(c.name, "amount") || c.name == "subtotal" || c.name == "tax_paid":
		g.jinja("{{ cents_to_dollars('"+c.name+"') }}", d.centsToDollars(c.name))
		g.w(" as ", c.name)
	case c.typ == typeTimestamp:
		g.w("cast(", c.name, " as ")
		g.jinja("{{ dbt.type_timestamp() }}", d.yamlTypes[typeTimestamp])
		g.w(") as ", c.name)
	case c.typ == typeText && c.name != "status":
		g.w("cast(", c.name, " as ")
		g.jinja("{{ dbt.type_string() }}", d.typeString())
		g.w(") as ", c.name)
	default:
		g.w(c.name)
	}
}

func (g *sqlGen) derived(i int32, n *node) {
	g.w("with\n\n")
	for k, par := range n.parents {
		g.w(g.p.nodes[par].name, " as (\n\n    select * from ", g.ref(par), "\n")
		if k == 0 && n.mat == "incremental" && !g.compiled {
			g.w("    {% if is_incremental() %}\n    where updated_at > (select max(updated_at) from {{ this }})\n    {% endif %}\n")
		}
		g.w("\n),\n\n")
	}
	first := g.p.nodes[n.parents[0]].name
	g.w("joined as (\n\n    select\n")
	for k, c := range n.cols {
		src := first
		if c.fk >= 0 {
			src = g.p.nodes[c.fk].name
		}
		g.w("        ")
		g.derivedExpr(src, c)
		if k < len(n.cols)-1 {
			g.w(",")
		}
		g.w("\n")
	}
	g.w("\n    from ", first, "\n")
	for _, par := range n.parents[1:] {
		pn := &g.p.nodes[par]
		g.w("    left join ", pn.name, "\n        on ", first, ".", pn.ent.pk(), " = ", pn.name, ".", pn.ent.pk(), "\n")
	}
	g.w("\n),\n\nfinal as (\n\n    select\n        joined.*")
	if x := extraColumn(i); x != "" {
		g.w(",\n        ")
		g.jinja("{{ dbt.current_timestamp() }}", "current_timestamp")
		g.w(" as ", x)
	}
	g.w("\n    from joined\n\n)\n\nselect * from final\n")
}

func (g *sqlGen) derivedExpr(src string, c column) {
	switch {
	case c.typ == typeNumeric:
		g.w("coalesce(", src, ".", c.name, ", 0) as ", c.name)
	case c.typ == typeBool:
		g.w("coalesce(", src, ".", c.name, ", false) as ", c.name)
	case c.name == "first_seen_date" || c.name == "valid_from":
		g.w("cast(")
		g.jinja("{{ dbt.date_trunc('day', '"+src+"."+c.name+"') }}", g.p.d.dateTrunc("day", src+"."+c.name))
		g.w(" as date) as ", c.name)
	default:
		g.w(src, ".", c.name)
	}
}

// extraColumn names the column that derived model i adds without declaring
// it in YAML (so the catalog has a column the YAML lacks), or "".
func extraColumn(i int32) string {
	if i%6 == 0 {
		return "_etl_loaded_at"
	}
	return ""
}

func (p *plan) snapshotSQL(n *node, compiled bool) string {
	g := &sqlGen{p: p, compiled: compiled}
	if !compiled {
		g.w("{% snapshot ", n.name, " %}\n\n{{\n    config(\n      target_schema='snapshots',\n",
			"      unique_key='id',\n      strategy='timestamp',\n      updated_at='updated_at',\n    )\n}}\n\n")
	}
	g.w("select * from ", g.ref(n.parents[0]), "\n")
	if !compiled {
		g.w("\n{% endsnapshot %}")
	}
	return g.b.String()
}

func (p *plan) analysisSQL(n *node, compiled bool) string {
	g := &sqlGen{p: p, compiled: compiled}
	g.w("-- Month-over-month revenue bridge: new, expansion, contraction and churn.\n\nwith\n\n")
	for _, par := range n.parents {
		g.w(p.nodes[par].name, " as (\n    select * from ", g.ref(par), "\n),\n\n")
	}
	first := p.nodes[n.parents[0]].name
	g.w("monthly as (\n    select\n        ")
	g.jinja("{{ dbt.date_trunc('month', 'created_at') }}", p.d.dateTrunc("month", "created_at"))
	g.w(" as month,\n        count(*) as records\n    from ", first, "\n    group by 1\n)\n\nselect * from monthly order by month\n")
	return g.b.String()
}

// testSQL is a test's raw or compiled code.
func (p *plan) testSQL(n *node, compiled bool) string {
	t := n.test
	if t.macro == "" {
		return p.singularSQL(n, compiled)
	}
	if !compiled {
		s := "{{ test_" + t.macro + "(**_dbt_generic_test_kwargs) }}"
		if t.warn {
			s += "{{ config(severity=\"warn\") }}"
		}
		return s
	}
	rel, col := p.relation(t.attached), t.col
	const pre = "\n    \n    \n\n"
	switch t.macro {
	case "not_null":
		return pre + "\n\nselect " + col + "\nfrom " + rel + "\nwhere " + col + " is null\n\n\n"
	case "unique":
		return pre + "select\n    " + col + " as unique_field,\n    count(*) as n_records\n\nfrom " + rel +
			"\nwhere " + col + " is not null\ngroup by " + col + "\nhaving count(*) > 1\n\n\n"
	case "accepted_values":
		return pre + "with all_values as (\n\n    select\n        " + col + " as value_field,\n        count(*) as n_records\n\n    from " +
			rel + "\n    group by " + col + "\n\n)\n\nselect *\nfrom all_values\nwhere value_field not in (\n    '" +
			strings.Join(t.values, "','") + "'\n)\n\n\n"
	}
	return pre + "with child as (\n    select " + col + " as from_field\n    from " + rel + "\n    where " + col +
		" is not null\n),\n\nparent as (\n    select " + t.field + " as to_field\n    from " + p.relation(t.to) +
		"\n)\n\nselect\n    from_field\n\nfrom child\nleft join parent\n    on child.from_field = parent.to_field\n\nwhere parent.to_field is null\n\n\n"
}

func (p *plan) singularSQL(n *node, compiled bool) string {
	g := &sqlGen{p: p, compiled: compiled}
	m := n.parents[0]
	if strings.HasSuffix(n.name, "future_dates") {
		g.w("-- Rows must not be created in the future (clock skew in the loaders).\n\nselect *\nfrom ", g.ref(m),
			"\nwhere created_at > ")
		g.jinja("{{ dbt.current_timestamp() }}", "current_timestamp")
		g.w("\n")
		return g.b.String()
	}
	col := p.nodes[m].ent.pk()
	for _, c := range p.nodes[m].cols {
		if c.typ == typeNumeric {
			col = c.name
			break
		}
	}
	g.w("-- Amounts are stored as positive values; refunds live in their own model.\n\nselect\n    ",
		p.nodes[m].ent.pk(), ",\n    ", col, "\nfrom ", g.ref(m), "\nwhere ", col, " < 0\n")
	return g.b.String()
}
