package normalize

import (
	"bytes"
	"strings"

	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// rawOmit writes a JSON value as it is (compacted), unless it is absent,
// null, or an empty object or array.
func (o *obj) rawOmit(k string, raw []byte) {
	switch string(raw) {
	case "", "null", "{}", "[]", `""`:
		return
	}
	if (raw[0] == '{' && artifact.IsEmptyObject(raw)) || (raw[0] == '[' && len(artifact.RawTextList(raw)) == 0) {
		return
	}
	n := len(o.b)
	first := o.first
	o.key(k)
	var ok bool
	if o.b, ok = artifact.AppendCompact(o.b, raw); !ok {
		o.b, o.first = o.b[:n], first
	}
}

// appendObject appends a raw object compacted, {} when it is not one.
func appendObject(dst, raw []byte) []byte {
	if artifact.IsObject(raw) {
		if out, ok := artifact.AppendCompact(dst, raw); ok {
			return out
		}
	}
	return append(dst, "{}"...)
}

// appendMergedMeta appends meta with config.meta merged over it, keeping
// every member and its JSON as written, in manifest order; an object it
// cannot read is an error.
func appendMergedMeta(dst, meta, cfg []byte) ([]byte, error) {
	me, ce := artifact.IsEmptyObject(meta), artifact.IsEmptyObject(cfg)
	switch {
	case ce:
		return appendObject(dst, meta), nil
	case me:
		return appendObject(dst, cfg), nil
	}
	o := obj{b: dst}
	o.open()
	member := func(k, v []byte) {
		n, first := len(o.b), o.first
		if !o.first {
			o.b = append(o.b, ',')
		}
		o.first = false
		o.b = appendString(o.b, string(k))
		o.b = append(o.b, ':')
		var ok bool
		if o.b, ok = artifact.AppendCompact(o.b, v); !ok {
			o.b, o.first = o.b[:n], first
		}
	}
	_, err := artifact.EachMember(meta, func(k, v []byte) error {
		if c := artifact.Member(cfg, string(k)); c != nil {
			v = c
		}
		member(k, v)
		return nil
	})
	if err == nil {
		_, err = artifact.EachMember(cfg, func(k, v []byte) error {
			if artifact.Member(meta, string(k)) == nil {
				member(k, v)
			}
			return nil
		})
	}
	o.close()
	return o.b, err
}

// column is one merged column on its way out.
type column struct {
	name, dataType, source, comment string
	nameB                           []byte // a YAML-only column's name, when name is ""
	dataTypeRaw                     []byte // the YAML's data_type, when the catalog has none
	index                           int32
	description, meta, cMeta, cons  []byte
	tags, cTags                     []byte
	inCatalog, inManifest           bool
}

// is reports whether the column's name is name, case-insensitively.
func (c *column) is(name string) bool {
	if c.name != "" {
		return strings.EqualFold(c.name, name)
	}
	return eqFold(name, c.nameB)
}

// eqFold reports whether s and b are equal under Unicode case folding,
// without allocating for ASCII.
func eqFold(s string, b []byte) bool {
	if len(s) != len(b) {
		return strings.EqualFold(s, string(b))
	}
	for i := range len(s) {
		x, y := s[i], b[i]
		if x >= 0x80 || y >= 0x80 {
			return strings.EqualFold(s, string(b))
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// columns merges the YAML columns with the catalog's by name,
// case-insensitively, and writes them with their tests.
func (n *normalizer) columns(sc *scratch, o *obj, e *entry, self int32) {
	cols := sc.cols[:0]
	defer func() { sc.cols = cols[:0] }()
	if n.cat[self] > 0 {
		for _, c := range n.cats.at(int(n.cat[self]) - 1).columns {
			col := column{name: n.istr.get(c.name), dataType: n.istr.get(c.typ), comment: n.istr.get(c.comment), index: c.index, inCatalog: true}
			if col.dataType != "" {
				col.source = "catalog"
			}
			cols = append(cols, col)
		}
	}
	_, err := artifact.EachMember(e.columns, func(k, v []byte) error {
		var name, desc, meta, dataType, tags, cMeta, cTags, cons []byte
		config := func(k, v []byte) error {
			switch string(k) {
			case "meta":
				cMeta = v
			case "tags":
				cTags = v
			}
			return nil
		}
		_, err := artifact.EachMember(v, func(k, v []byte) error {
			switch string(k) {
			case "name":
				name = v
			case "description":
				desc = v
			case "meta":
				meta = v
			case "data_type":
				dataType = v
			case "tags":
				tags = v
			case "constraints":
				cons = v
			case "config":
				_, err := artifact.EachMember(v, config)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
		nm := k // the key names the column, as in the catalog (uniqueColumns)
		if len(nm) == 0 {
			nm = strBytes(name)
		}
		i := columnIndex(cols, nm)
		if i < 0 {
			i = len(cols)
			cols = append(cols, column{nameB: nm})
		}
		c := &cols[i]
		c.inManifest, c.description, c.meta, c.cMeta, c.cons = true, desc, meta, cMeta, cons
		c.tags, c.cTags = tags, cTags
		if c.dataType == "" && !isEmptyText(dataType) {
			c.dataTypeRaw, c.source = dataType, "yaml"
		}
		return nil
	})
	e.check(err)
	o.key("columns")
	o.b = append(o.b, '[')
	links := n.tests.of(self)
	for i := range cols {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		n.column(o, e, &cols[i], links)
	}
	o.b = append(o.b, ']')
}

func (n *normalizer) column(o *obj, e *entry, c *column, links []int32) {
	co := obj{b: o.b}
	co.open()
	co.key("name")
	if c.name != "" || !plain(c.nameB) {
		co.b = appendString(co.b, c.name+string(c.nameB))
	} else {
		co.b = append(append(append(co.b, '"'), c.nameB...), '"')
	}
	if c.dataTypeRaw != nil {
		co.text("data_type", c.dataTypeRaw)
	} else {
		co.strOmit("data_type", c.dataType)
	}
	co.strOmit("data_type_source", c.source)
	co.text("description", c.description)
	if c.index != 0 {
		co.int("index", int64(c.index))
	}
	co.strOmit("comment", c.comment)
	var err error
	if !isEmptyList(c.tags) || !isEmptyList(c.cTags) {
		co.key("tags")
		co.b, err = appendUnion(co.b, c.tags, c.cTags)
		e.check(err)
	}
	if !artifact.IsEmptyObject(c.meta) || !artifact.IsEmptyObject(c.cMeta) {
		co.key("meta")
		co.b, err = appendMergedMeta(co.b, c.meta, c.cMeta)
		e.check(err)
	}
	co.rawOmit("constraints", c.cons)
	mine := func(col uint32) bool { return col != 0 && c.is(n.str.get(col)) }
	var tests []int32
	for _, li := range links {
		if mine(n.links[li].column) {
			tests = append(tests, li)
		}
	}
	if len(tests) > 0 {
		co.key("tests")
		n.appendIDs(&co, tests, func(i int32) int32 { return n.links[i].test })
		if t, ran := n.testOutcomes(tests, nil); ran > 0 {
			co.key("test_results")
			co.b = appendOutcomes(co.b, t)
		}
	}
	co.boolean("in_catalog", c.inCatalog)
	co.boolean("in_manifest", c.inManifest)
	co.close()
	o.b = co.b
}

// columnIndex finds a column by name, case-insensitively; -1 when absent.
func columnIndex(cols []column, name []byte) int {
	for i := range cols {
		if cols[i].name != "" && eqFold(cols[i].name, name) || cols[i].name == "" && bytes.EqualFold(cols[i].nameB, name) {
			return i
		}
	}
	return -1
}

// isEmptyList reports whether a raw list (or single value) has no items;
// one it cannot read is not empty (appendUnion reports it).
func isEmptyList(raw []byte) bool {
	empty := true
	err := each(raw, func([]byte) error { empty = false; return nil })
	return empty && err == nil
}

// result writes the node's run result, with source freshness for sources.
func (n *normalizer) result(o *obj, self int32, typ string) {
	var r *result
	if i := n.res[self]; i > 0 {
		r = n.results.at(int(i) - 1)
	}
	f := n.fresh[self]
	if typ != "source" {
		f = nil
	}
	if r == nil && f == nil {
		return
	}
	message := uint32(0)
	if r == nil {
		r, message = &f.result, f.err
	} else {
		message = r.message
	}
	o.key("result")
	ro := obj{b: o.b}
	ro.open()
	ro.str("status", n.istr.get(r.status))
	ro.float("execution_time", r.exec)
	ro.strOmit("message", n.istr.get(message))
	if r.hasFailures {
		ro.int("failures", r.failures)
	}
	if r.hasRows {
		ro.int("rows_affected", r.rows)
	}
	if r.adapter != 0 {
		ro.raw("adapter_response", n.istr.get(r.adapter))
	}
	ro.strOmit("thread_id", n.istr.get(r.thread))
	ro.time("compile_started_at", r.times[0])
	ro.time("compile_completed_at", r.times[1])
	ro.time("execute_started_at", r.times[2])
	ro.time("execute_completed_at", r.times[3])
	ro.strOmit("invocation_id", n.istr.get(r.invocation))
	if f != nil {
		ro.time("max_loaded_at", f.maxLoadedAt)
		ro.time("snapshotted_at", f.snapshottedAt)
		if f.hasAge {
			ro.float("max_loaded_at_time_ago_in_s", f.age)
		}
		if f.criteria != 0 {
			ro.raw("criteria", n.istr.get(f.criteria))
		}
	}
	ro.close()
	o.b = ro.b
}

// typed writes what only some resource types have.
func (n *normalizer) typed(o *obj, e *entry, typ string, self int32) {
	switch typ {
	case "test", "unit_test":
		o.key("test")
		to := obj{b: o.b}
		to.open()
		var name, ns, kwargs []byte
		if typ == "test" {
			_, err := artifact.EachMember(e.testMetadata, func(k, v []byte) error {
				switch string(k) {
				case "name":
					name = v
				case "namespace":
					ns = v
				case "kwargs":
					kwargs = v
				}
				return nil
			})
			e.check(err)
			if isEmptyText(ns) || isEmptyText(name) {
				to.textOmit("test_name", name)
			} else {
				to.str("test_name", artifact.RawText(ns)+"."+artifact.RawText(name))
			}
			to.rawOmit("kwargs", kwargs)
		}
		if !isEmptyText(e.attachedNode) {
			to.text("attached_node", e.attachedNode)
		} else if t := n.targetOf[self]; t >= 0 { // as the first pass resolved it
			to.str("attached_node", n.ids[t])
		}
		if typ == "test" {
			to.textOmit("column_name", firstRaw(e.columnName, artifact.Member(kwargs, "column_name")))
			to.textOmit("severity", e.severity)
			to.textOmit("warn_if", e.warnIf)
			to.textOmit("error_if", e.errorIf)
		}
		to.close()
		o.b = to.b
	case "source":
		o.key("source")
		so := obj{b: o.b}
		so.open()
		so.text("source_name", e.sourceName)
		so.textOmit("loader", e.loader)
		so.textOmit("loaded_at_field", firstRaw(e.loadedAtField, e.cLoadedAtField))
		fr := e.freshness
		if artifact.IsEmptyObject(fr) {
			fr = e.cFreshness
		}
		so.rawOmit("freshness", fr)
		so.close()
		o.b = so.b
	case "exposure":
		o.key("exposure")
		eo := obj{b: o.b}
		eo.open()
		eo.textOmit("type", e.typ)
		eo.textOmit("maturity", e.maturity)
		eo.textOmit("url", e.url)
		if artifact.IsObject(e.owner) {
			eo.textOmit("owner_name", artifact.Member(e.owner, "name"))
			eo.textOmit("owner_email", artifact.Member(e.owner, "email"))
		} else {
			eo.textOmit("owner_name", e.owner)
		}
		eo.close()
		o.b = eo.b
	case "semantic_model", "metric", "saved_query":
		n.semanticInfo(o, e, typ)
	}
}

func (n *normalizer) semanticInfo(o *obj, e *entry, typ string) {
	start, first := len(o.b), o.first
	o.key(typ)
	so := obj{b: o.b}
	so.open()
	switch typ {
	case "semantic_model":
		so.textOmit("model", e.model)
		so.textOmit("primary_entity", e.primaryEntity)
		so.rawOmit("entities", e.entities)
		so.rawOmit("dimensions", e.dimensions)
		so.rawOmit("measures", e.measures)
	case "metric":
		so.rawOmit("type_params", e.typeParams)
		so.rawOmit("filter", e.filter)
	case "saved_query":
		so.rawOmit("query_params", e.queryParams)
		so.rawOmit("exports", e.exports)
	}
	if so.first {
		o.b, o.first = o.b[:start], first
		return
	}
	so.close()
	o.b = so.b
}
