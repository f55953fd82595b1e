package gen

import (
	"crypto/md5"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strconv"
)

// kind is a node's resource_type.
type kind uint8

const (
	kindSource kind = iota
	kindSeed
	kindModel
	kindSnapshot
	kindAnalysis
	kindTest
	kindExposure
	kindSemanticModel
	kindMetric
	kindSavedQuery
	kindUnitTest
	numKinds
)

func (k kind) String() string {
	return [...]string{"source", "seed", "model", "snapshot", "analysis", "test", "exposure",
		"semantic_model", "metric", "saved_query", "unit_test"}[k]
}

// layer is a model's place in the project's folder structure.
type layer uint8

const (
	layerNone layer = iota
	layerStaging
	layerIntermediate
	layerMart
)

func (l layer) dir() string {
	return [...]string{"", "staging", "intermediate", "marts"}[l]
}

// column is one column as the project's YAML declares it.
type column struct {
	name     string
	typ      logicalType
	what     string // noun phrase for the description
	fk       int32  // node the column references, or -1
	status   bool   // carries an accepted_values test
	declared bool   // data_type given in YAML
}

// testSpec describes a test node; macro is "" for singular tests.
type testSpec struct {
	macro    string // not_null, unique, relationships, accepted_values
	attached int32  // node under test
	col      string
	to       int32 // relationships: referenced node
	field    string
	values   []string
	warn     bool   // severity warn
	fullName string // the name before dbt shortens long names
}

// node is the skeleton of one asset; text and SQL are derived from it on demand.
type node struct {
	kind     kind
	layer    layer
	name     string
	uid      string
	parents  []int32
	ent      entity
	src      int16  // source group (sources, their staging models, snapshots); -1 otherwise
	group    int8   // dbt group of a model, -1 for none
	mat      string // materialization
	public   bool
	contract bool
	disabled bool
	cols     []column
	test     *testSpec
}

type sourceGroup struct {
	name string
	sys  sourceSystem
}

// modelGroup is a dbt group with an owner.
type modelGroup struct{ name, owner, email string }

// plan is the whole project's skeleton.
type plan struct {
	opts     Options
	d        dialect
	nodes    []node
	disabled []node
	groups   []sourceGroup
	mgroups  []modelGroup
	children [][]int32
}

// layout sizes the project from the number of models.
type layout struct{ staging, seeds, seedStaging, tables, intermediate, marts int }

func newLayout(models int) layout {
	l := layout{staging: max(1, models*35/100), seeds: min(max(models/40, 2), 40)}
	l.seedStaging = min(l.seeds, l.staging/5)
	l.tables = l.staging - l.seedStaging
	l.intermediate = models * 30 / 100
	l.marts = models - l.staging - l.intermediate
	return l
}

// builder assembles a plan from a master random source.
type builder struct {
	p    *plan
	r    *rand.Rand
	t    text
	used map[string]int
	stg  []int32 // staging models
	ints []int32 // intermediate models
	mart []int32 // mart models
	src  []int32 // sources
	seed []int32 // seeds
}

func newPlan(opts Options, d dialect) *plan {
	p := &plan{opts: opts, d: d}
	r := rand.New(rand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15))
	b := &builder{p: p, r: r, t: text{r}, used: map[string]int{}}
	l := newLayout(opts.Models)
	b.modelGroups()
	b.sources(l.tables)
	b.seeds(l.seeds)
	b.staging(l.seedStaging)
	b.derived(l.intermediate, layerIntermediate)
	b.derived(l.marts, layerMart)
	b.snapshots()
	b.analysis()
	b.genericTests()
	b.singularTests()
	b.exposures()
	if opts.Models >= 20 {
		b.semantic()
	}
	b.unitTests()
	b.disabledModel()
	p.children = childMap(p.nodes)
	return p
}

func (b *builder) add(n node) int32 {
	if n.uid == "" {
		n.uid = n.kind.String() + "." + b.p.opts.ProjectName + "." + n.name
	}
	b.p.nodes = append(b.p.nodes, n)
	return int32(len(b.p.nodes) - 1)
}

// unique returns name, or name_2, name_3... when it was taken.
func (b *builder) unique(name string) string {
	b.used[name]++
	if c := b.used[name]; c > 1 {
		return b.unique(name + "_" + strconv.Itoa(c))
	}
	return name
}

func (b *builder) modelGroups() {
	for _, g := range []string{"finance", "marketing", "operations", "product"} {
		b.p.mgroups = append(b.p.mgroups, modelGroup{name: g, owner: b.t.personName(), email: g + "-data@acme.example"})
	}
}

func (b *builder) sources(tables int) {
	systems := sourceSystems()
	ng := max(min(3, tables), tables/8)
	for g := range ng {
		sys := systems[g%len(systems)]
		name := sys.name
		if g >= len(systems) {
			name += "_" + strconv.Itoa(g/len(systems)+1)
		}
		b.p.groups = append(b.p.groups, sourceGroup{name: name, sys: sys})
	}
	ents := businessEntities()
	regions := []string{"", "_eu", "_us", "_apac", "_latam", "_archive", "_history"}
	for t := range tables {
		g, k := t%ng, t/ng
		e := ents[(g*5+k)%len(ents)]
		table := e.plural
		if round := k / len(ents); round > 0 {
			table += regions[round%len(regions)] + suffixIf(round >= len(regions), round/len(regions))
		}
		n := node{kind: kindSource, name: table, ent: e, src: int16(g), group: -1}
		n.uid = "source." + b.p.opts.ProjectName + "." + b.p.groups[g].name + "." + table
		n.cols = b.sourceColumns(e, t, ng)
		b.src = append(b.src, b.add(n))
	}
}

func suffixIf(ok bool, n int) string {
	if !ok {
		return ""
	}
	return "_" + strconv.Itoa(n+1)
}

func (b *builder) sourceColumns(e entity, t, ng int) []column {
	cols := []column{{name: "id", typ: typeBigint, what: "primary key", fk: -1, declared: true}}
	if t >= ng { // the previous table of the same group
		prev := b.p.nodes[b.src[t-ng]]
		cols = append(cols, column{name: prev.ent.pk(), typ: typeBigint, what: prev.ent.human() + " key", fk: b.src[t-ng]})
	}
	return append(cols, b.attrs(e, 3+b.r.IntN(8))...)
}

// attrs picks n attributes plus the timestamps every table carries.
func (b *builder) attrs(e entity, n int) []column {
	pool := attributePool()
	var cols []column
	for _, i := range b.r.Perm(len(pool))[:min(n, len(pool))] {
		a := pool[i]
		cols = append(cols, column{name: a.name, typ: a.typ, what: a.what, fk: -1, status: a.name == "status" && !e.lookup})
	}
	return append(cols,
		column{name: "created_at", typ: typeTimestamp, what: "creation timestamp (UTC)", fk: -1},
		column{name: "updated_at", typ: typeTimestamp, what: "last update timestamp (UTC)", fk: -1})
}

func (b *builder) seeds(n int) {
	ents := lookupEntities()
	for i := range n {
		e := ents[i%len(ents)]
		name := b.unique(e.plural)
		cols := []column{
			{name: e.pk(), typ: typeText, what: "code", fk: -1, declared: true},
			{name: e.name + "_name", typ: typeText, what: "label", fk: -1},
			{name: "sort_order", typ: typeInt, what: "display order", fk: -1},
			{name: "is_active", typ: typeBool, what: "active flag", fk: -1},
			{name: "valid_from", typ: typeDate, what: "first valid day", fk: -1},
		}
		b.seed = append(b.seed, b.add(node{kind: kindSeed, name: name, ent: e, group: -1, cols: cols}))
	}
}

// staging adds one view per source table, then one per staged seed.
func (b *builder) staging(seedStaging int) {
	stgOf := map[int32]int32{}
	for _, s := range b.src {
		sn := b.p.nodes[s]
		name := b.unique("stg_" + b.p.groups[sn.src].name + "__" + sn.name)
		cols := make([]column, 0, len(sn.cols))
		for _, c := range sn.cols {
			switch {
			case c.name == "id":
				c.name, c.what = sn.ent.pk(), "surrogate key"
			case c.fk >= 0:
				c.fk = stgOf[c.fk]
			}
			c.declared = b.r.IntN(10) < 3
			cols = append(cols, c)
		}
		i := b.add(node{kind: kindModel, layer: layerStaging, name: name, ent: sn.ent, src: sn.src,
			group: -1, mat: "view", parents: []int32{s}, cols: cols})
		stgOf[s] = i
		b.stg = append(b.stg, i)
	}
	for _, s := range b.seed[:seedStaging] {
		sn := b.p.nodes[s]
		i := b.add(node{kind: kindModel, layer: layerStaging, name: b.unique("stg_" + sn.name), ent: sn.ent,
			src: -1, group: -1, mat: "view", parents: []int32{s}, cols: slices.Clone(sn.cols)})
		b.stg = append(b.stg, i)
	}
}

// fanIn draws how many parents a derived model has: 1 to 4, mostly 2.
func (b *builder) fanIn() int {
	switch x := b.r.IntN(10); {
	case x < 3:
		return 1
	case x < 7:
		return 2
	case x < 9:
		return 3
	}
	return 4
}

// pickParents draws distinct parents, favouring recent candidates so that the
// DAG has local structure instead of one giant hub.
func (b *builder) pickParents(first, rest []int32, n int) []int32 {
	pick := func(c []int32) int32 {
		if b.r.IntN(10) < 7 {
			w := min(len(c), 48)
			return c[len(c)-w+b.r.IntN(w)]
		}
		return c[b.r.IntN(len(c))]
	}
	out := []int32{pick(first)}
	for tries := 0; len(out) < n && tries < 4*n; tries++ {
		if c := pick(rest); !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func (b *builder) derived(count int, l layer) {
	verbs := []string{"joined", "enriched", "pivoted", "aggregated", "deduplicated", "unioned", "filtered", "windowed", "scored", "bucketed"}
	grains := []string{"", "_daily", "_weekly", "_monthly", "_by_region", "_by_channel", "_summary", "_history"}
	for range count {
		first, rest := b.stg, concat(b.stg, b.ints)
		if l != layerIntermediate {
			if len(b.ints) > 0 {
				first = b.ints
			}
			rest = concat(b.stg, b.ints, b.mart)
		}
		parents := b.pickParents(first, rest, b.fanIn())
		e := b.p.nodes[parents[0]].ent
		n := node{kind: kindModel, layer: l, ent: e, group: -1, parents: parents}
		if l == layerIntermediate {
			n.name = b.unique("int_" + e.plural + "_" + b.t.pick(verbs))
			n.mat = []string{"view", "table", "view"}[b.r.IntN(3)]
		} else {
			n.name = b.unique(martPrefix(e) + e.plural + b.t.pick(grains))
			n.mat = []string{"table", "table", "incremental"}[b.r.IntN(3)]
			n.group = int8(b.r.IntN(len(b.p.mgroups)))
			n.public = b.r.IntN(2) == 0
			n.contract = n.public && b.r.IntN(2) == 0
		}
		n.cols = b.derivedColumns(parents, e, n.contract)
		i := b.add(n)
		if l == layerIntermediate {
			b.ints = append(b.ints, i)
		} else {
			b.mart = append(b.mart, i)
		}
	}
}

func martPrefix(e entity) string {
	switch e.name {
	case "customer", "product", "store", "supplier", "employee", "account", "plan", "carrier", "warehouse", "device":
		return "dim_"
	}
	if e.lookup {
		return "dim_"
	}
	return "fct_"
}

func concat(s ...[]int32) []int32 { return slices.Concat(s...) }

func (b *builder) derivedColumns(parents []int32, e entity, contract bool) []column {
	cols := []column{{name: e.pk(), typ: typeBigint, what: "surrogate key", fk: -1}}
	if e.lookup {
		cols[0].typ = typeText
	}
	seen := map[string]bool{e.pk(): true}
	for _, p := range parents[1:] {
		pe := b.p.nodes[p].ent
		if !seen[pe.pk()] {
			seen[pe.pk()] = true
			cols = append(cols, column{name: pe.pk(), typ: cols[0].typ, what: pe.human() + " key", fk: p})
			if !pe.lookup {
				cols[len(cols)-1].typ = typeBigint
			}
		}
	}
	for _, c := range b.p.nodes[parents[0]].cols {
		if !seen[c.name] && c.fk < 0 && b.r.IntN(5) > 0 {
			seen[c.name] = true
			cols = append(cols, c)
		}
	}
	for _, c := range b.attrs(e, 1+b.r.IntN(3)) {
		if !seen[c.name] {
			seen[c.name] = true
			cols = append(cols, c)
		}
	}
	for i := range cols {
		cols[i].declared = contract || b.r.IntN(10) < 4
	}
	return cols
}

func (b *builder) snapshots() {
	if len(b.src) == 0 {
		return
	}
	n := min(max(b.p.opts.Models/250, 1), 20, len(b.src))
	for i := range n {
		s := b.src[i*len(b.src)/n]
		sn := b.p.nodes[s]
		b.add(node{kind: kindSnapshot, name: b.unique("snap_" + b.p.groups[sn.src].name + "__" + sn.name),
			ent: sn.ent, src: sn.src, group: -1, mat: "snapshot", parents: []int32{s}, cols: sn.cols})
	}
}

// leaves is where analyses, exposures and singular tests attach: marts when
// there are any, else every model.
func (b *builder) leaves() []int32 {
	if len(b.mart) > 0 {
		return b.mart
	}
	return concat(b.stg, b.ints)
}

func (b *builder) analysis() {
	l := b.leaves()
	parents := []int32{l[len(l)-1]}
	if len(l) > 1 {
		parents = append(parents, l[0])
	}
	b.add(node{kind: kindAnalysis, name: "revenue_bridge_by_month", group: -1, parents: parents})
}

func (b *builder) singularTests() {
	l := b.leaves()
	for i, check := range []string{"has_no_future_dates", "amounts_are_non_negative"} {
		m := l[(i*len(l))/2]
		name := "assert_" + b.p.nodes[m].name + "_" + check
		b.add(node{kind: kindTest, name: name, group: -1, parents: []int32{m},
			test: &testSpec{attached: m, to: -1, fullName: name}})
	}
}

// testUID follows dbt: test.<project>.<name>.<10 hex digits of a hash>.
func (p *plan) testUID(name, kwargs string) string {
	h := md5.Sum([]byte(name + "|" + kwargs))
	return "test." + p.opts.ProjectName + "." + name + "." + hex.EncodeToString(h[:])[:10]
}
