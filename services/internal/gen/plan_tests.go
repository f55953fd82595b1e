package gen

import (
	"crypto/md5"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// genericTests attaches dbt's four generic tests to sources, seeds and models.
func (b *builder) genericTests() {
	for _, s := range b.src {
		b.keyTests(s, "id")
	}
	for _, s := range b.seed {
		b.keyTests(s, b.p.nodes[s].ent.pk())
	}
	for _, m := range concat(b.stg, b.ints, b.mart) {
		n := &b.p.nodes[m]
		b.keyTests(m, n.ent.pk())
		firstFK := true
		for _, c := range n.cols {
			switch {
			case c.fk >= 0 && n.layer == layerMart:
				b.genericTest("not_null", m, c.name, -1, "", nil)
				fallthrough
			case c.fk >= 0 && (firstFK || n.layer == layerStaging) && b.r.IntN(3) > 0:
				b.genericTest("relationships", m, c.name, c.fk, b.p.nodes[c.fk].ent.pk(), nil)
				firstFK = false
			case c.status:
				b.genericTest("accepted_values", m, c.name, -1, "", statusValues(n.ent))
			}
		}
	}
}

func (b *builder) keyTests(target int32, col string) {
	b.genericTest("unique", target, col, -1, "", nil)
	b.genericTest("not_null", target, col, -1, "", nil)
}

func (b *builder) genericTest(macro string, target int32, col string, to int32, field string, values []string) {
	tn := b.p.nodes[target]
	ident := macro + "_" + tn.name
	if tn.kind == kindSource {
		ident = "source_" + macro + "_" + b.p.groups[tn.src].name + "_" + tn.name
	}
	full := ident + "_" + col
	kw := col
	parents := []int32{target}
	switch macro {
	case "relationships":
		to := b.p.nodes[to]
		full += "__" + field + "__ref_" + to.name + "_"
		kw += "|" + to.name + "|" + field
	case "accepted_values":
		full += "__" + strings.Join(values, "__")
		kw += "|" + strings.Join(values, ",")
	}
	if to >= 0 {
		parents = []int32{to, target}
	}
	name := full
	if len(full) >= 64 { // dbt's synthesize_generic_test_names
		h := md5.Sum([]byte(full))
		name = ident[:min(len(ident), 30)] + "_" + hex.EncodeToString(h[:])
	}
	spec := &testSpec{macro: macro, attached: target, col: col, to: to, field: field, values: values,
		warn: b.r.IntN(12) == 0, fullName: full}
	b.add(node{kind: kindTest, name: name, uid: b.p.testUID(name, kw), group: -1, parents: parents, test: spec})
}

func (b *builder) exposures() {
	l := b.leaves()
	things := []string{"overview", "kpis", "health", "performance", "pipeline", "forecast", "weekly_review"}
	for range min(max(b.p.opts.Models/100, 2), 200) {
		parents := b.pickParents(l, l, 1+b.r.IntN(3))
		e := b.p.nodes[parents[0]].ent
		b.add(node{kind: kindExposure, name: b.unique(e.name + "_" + b.t.pick(things)), ent: e, group: -1, parents: parents})
	}
}

// measure is a semantic model measure; metrics are one per measure.
type measure struct {
	name, agg, expr string
}

// measures derives a semantic model's measures from its model's columns.
func measures(sem string, m node) []measure {
	out := []measure{{name: sem + "_count", agg: "count_distinct", expr: m.ent.pk()}}
	for _, c := range m.cols {
		if c.typ == typeNumeric {
			return append(out, measure{name: sem + "_total_" + c.name, agg: "sum", expr: c.name})
		}
	}
	return out
}

func (b *builder) semantic() {
	l := b.mart
	n := min(max(b.p.opts.Models/1000, 2), 20, len(l))
	var metrics []int32
	for i := range n {
		m := l[i*len(l)/n]
		mn := b.p.nodes[m]
		name := b.unique(strings.TrimPrefix(strings.TrimPrefix(mn.name, "fct_"), "dim_"))
		s := b.add(node{kind: kindSemanticModel, name: name, ent: mn.ent, group: mn.group, parents: []int32{m}})
		for _, ms := range measures(name, mn) {
			metrics = append(metrics, b.add(node{kind: kindMetric, name: ms.name, ent: mn.ent, group: mn.group, parents: []int32{s}}))
		}
	}
	if len(metrics) > 0 {
		b.add(node{kind: kindSavedQuery, name: "core_kpis_weekly", group: -1, parents: metrics[:min(3, len(metrics))]})
	}
}

func (b *builder) unitTests() {
	checks := []string{"renames_primary_key", "keeps_timestamps_in_utc"}
	var done int
	for _, m := range b.stg {
		mn := b.p.nodes[m]
		if b.p.nodes[mn.parents[0]].kind != kindSource || done == len(checks) {
			continue
		}
		name := "test_" + mn.name + "_" + checks[done]
		b.add(node{kind: kindUnitTest, name: name, ent: mn.ent, group: -1, parents: []int32{m},
			uid: "unit_test." + b.p.opts.ProjectName + "." + mn.name + "." + name})
		done++
	}
}

// disabledModel adds one model switched off in dbt_project.yml, as most
// long-lived projects have; it is listed under "disabled" only.
func (b *builder) disabledModel() {
	if len(b.src) == 0 {
		return
	}
	s := b.src[0]
	sn := b.p.nodes[s]
	name := "stg_legacy__" + sn.name + "_v1"
	b.p.disabled = append(b.p.disabled, node{kind: kindModel, layer: layerStaging, name: name, ent: sn.ent,
		src: sn.src, group: -1, mat: "view", disabled: true, parents: []int32{s}, cols: sn.cols[:1],
		uid: "model." + b.p.opts.ProjectName + "." + name})
}

// childMap inverts the parent lists; each child list is sorted by unique_id.
func childMap(nodes []node) [][]int32 {
	ch := make([][]int32, len(nodes))
	for i, n := range nodes {
		for _, p := range n.parents {
			ch[p] = append(ch[p], int32(i))
		}
	}
	for _, c := range ch {
		slices.SortFunc(c, func(a, b int32) int { return strings.Compare(nodes[a].uid, nodes[b].uid) })
	}
	return ch
}

// sortedUIDs returns the unique_ids of idx, sorted.
func (p *plan) sortedUIDs(idx []int32) []string {
	out := make([]string, len(idx))
	for i, x := range idx {
		out[i] = p.nodes[x].uid
	}
	slices.Sort(out)
	return out
}

// counts returns the number of assets per resource type.
func (p *plan) counts() map[string]int {
	c := map[string]int{}
	for k := range numKinds {
		c[k.String()] = 0
	}
	for i := range p.nodes {
		c[p.nodes[i].kind.String()]++
	}
	return c
}

func itoa(i int) string { return strconv.Itoa(i) }
