package normalize

import (
	"strconv"
	"strings"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// entry holds the raw members of one manifest entry that the asset uses.
type entry struct {
	resourceType, name, packageName, path, originalFilePath, fqn                  []byte
	database, schema, alias, identifier, relationName, language, description      []byte
	label, tags, meta, group, access, version, latestVersion, deprecationDate     []byte
	contract, constraints, columns, dependsOn, checksum, testMetadata, columnName []byte
	attachedNode, sourceName, loader, loadedAtField, freshness, typ, maturity     []byte
	url, owner, calculationMethod, model, nodeRelation, rawCode, compiledCode     []byte
	rawSQL, compiledSQL, entities, dimensions, measures, primaryEntity            []byte
	typeParams, filter, queryParams, exports                                      []byte
	// config
	materialized, cMeta, cTags, cGroup, cAccess, cContract, severity, warnIf, errorIf, cLoadedAtField, cFreshness []byte
	// err is the first nested value that could not be read while the entry
	// was split or its asset built: the manifest is malformed.
	err error
}

// check keeps the first error of reading a nested value.
func (e *entry) check(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *entry) member(k, v []byte) {
	switch string(k) {
	case "resource_type":
		e.resourceType = v
	case "name":
		e.name = v
	case "package_name":
		e.packageName = v
	case "path":
		e.path = v
	case "original_file_path":
		e.originalFilePath = v
	case "fqn":
		e.fqn = v
	case "database":
		e.database = v
	case "schema":
		e.schema = v
	case "alias":
		e.alias = v
	case "identifier":
		e.identifier = v
	case "relation_name":
		e.relationName = v
	case "language":
		e.language = v
	case "description":
		e.description = v
	case "label":
		e.label = v
	case "tags":
		e.tags = v
	case "meta":
		e.meta = v
	case "config":
		_, err := artifact.EachMember(v, e.config)
		e.check(err)
	default:
		e.member2(k, v)
	}
}

func (e *entry) member2(k, v []byte) {
	switch string(k) {
	case "group":
		e.group = v
	case "access":
		e.access = v
	case "version":
		e.version = v
	case "latest_version":
		e.latestVersion = v
	case "deprecation_date":
		e.deprecationDate = v
	case "contract":
		e.contract = v
	case "constraints":
		e.constraints = v
	case "columns":
		e.columns = v
	case "depends_on":
		e.dependsOn = artifact.Member(v, "nodes")
	case "checksum":
		e.checksum = v
	case "test_metadata":
		e.testMetadata = v
	case "column_name":
		e.columnName = v
	case "attached_node":
		e.attachedNode = v
	case "source_name":
		e.sourceName = v
	case "loader":
		e.loader = v
	case "loaded_at_field":
		e.loadedAtField = v
	case "freshness":
		e.freshness = v
	default:
		e.member3(k, v)
	}
}

func (e *entry) member3(k, v []byte) {
	switch string(k) {
	case "type":
		e.typ = v
	case "maturity":
		e.maturity = v
	case "url":
		e.url = v
	case "owner":
		e.owner = v
	case "calculation_method":
		e.calculationMethod = v
	case "model":
		e.model = v
	case "node_relation":
		e.nodeRelation = v
	case "raw_code":
		e.rawCode = v
	case "compiled_code":
		e.compiledCode = v
	case "raw_sql":
		e.rawSQL = v
	case "compiled_sql":
		e.compiledSQL = v
	case "entities":
		e.entities = v
	case "dimensions":
		e.dimensions = v
	case "measures":
		e.measures = v
	case "primary_entity":
		e.primaryEntity = v
	case "type_params":
		e.typeParams = v
	case "filter":
		e.filter = v
	case "query_params":
		e.queryParams = v
	case "exports":
		e.exports = v
	}
}

func (e *entry) config(k, v []byte) error {
	switch string(k) {
	case "materialized":
		e.materialized = v
	case "meta":
		e.cMeta = v
	case "tags":
		e.cTags = v
	case "group":
		e.cGroup = v
	case "access":
		e.cAccess = v
	case "contract":
		e.cContract = v
	case "severity":
		e.severity = v
	case "warn_if":
		e.warnIf = v
	case "error_if":
		e.errorIf = v
	case "loaded_at_field":
		e.cLoadedAtField = v
	case "freshness":
		e.cFreshness = v
	}
	return nil
}

// asset appends the JSON of one entry's asset to dst.
func (n *normalizer) asset(sc *scratch, dst []byte, section string, self int32, e *entry) ([]byte, string) {
	key := n.ids[self]
	var typ string
	if t, ok := knownType(strBytes(e.resourceType)); ok {
		typ = t // the common case: no allocation
	} else if typ = artifact.RawText(e.resourceType); typ == "" {
		typ = sectionType(section, key)
	}
	ref := n.opts.Ref
	o := obj{b: dst}
	o.open()
	o.key("asset_id") // events.StableAssetID, without formatting a string
	o.b = append(o.b, '"')
	o.b = strconv.AppendInt(o.b, ref.AccountID, 10)
	o.b = append(o.b, '/')
	o.b = strconv.AppendInt(o.b, ref.ProjectID, 10)
	o.b = append(o.b, '/')
	o.b = strconv.AppendInt(o.b, ref.EnvironmentID, 10)
	o.b = append(o.b, '/')
	at := len(o.b)
	o.b = appendString(o.b, key)
	o.b = append(o.b[:at], o.b[at+1:]...) // without appendString's opening quote
	o.int("account_id", ref.AccountID)
	o.int("project_id", ref.ProjectID)
	o.int("environment_id", ref.EnvironmentID)
	o.int("job_id", ref.JobID)
	o.int("run_id", ref.RunID)
	o.str("unique_id", key)
	o.str("resource_type", typ)
	o.text("name", e.name)
	o.text("package_name", e.packageName)
	o.textOmit("original_file_path", e.originalFilePath)
	o.textOmit("path", e.path)
	e.check(o.textsOmit("fqn", e.fqn))
	n.relation(&o, e, typ, self)
	o.text("description", e.description)
	o.textOmit("label", e.label)
	if typ == "metric" {
		o.textOmit("metric_type", firstRaw(e.typ, e.calculationMethod))
	}
	var err error
	o.key("tags")
	o.b, err = appendUnion(o.b, e.tags, e.cTags)
	e.check(err)
	o.key("meta")
	o.b, err = appendMergedMeta(o.b, e.meta, e.cMeta)
	e.check(err)
	group := artifact.RawText(firstRaw(e.group, e.cGroup))
	o.strOmit("owner", n.owner(e, typ, group))
	o.strOmit("group", group)
	o.textOmit("access", firstRaw(e.access, e.cAccess))
	o.textOmit("version", e.version)
	o.textOmit("latest_version", e.latestVersion)
	if artifact.RawBool(artifact.Member(e.contract, "enforced")) || artifact.RawBool(artifact.Member(e.cContract, "enforced")) {
		o.boolean("contract_enforced", true)
	}
	o.rawOmit("constraints", e.constraints)
	o.textOmit("deprecation_date", e.deprecationDate)
	n.columns(sc, &o, e, self)
	o.key("depends_on")
	o.b, err = appendUnion(o.b, e.dependsOn, nil)
	e.check(err)
	n.lineageOut(&o, self)
	o.textOmit("checksum", checksum(e.checksum))
	if n.opts.IncludeCode {
		o.textOmit("raw_code", firstRaw(e.rawCode, e.rawSQL))
		o.textOmit("compiled_code", firstRaw(e.compiledCode, e.compiledSQL))
	}
	n.result(&o, self, typ)
	n.typed(&o, e, typ, self)
	if n.cat[self] > 0 {
		if st := n.cats.at(int(n.cat[self]) - 1).stats; st != 0 {
			o.raw("stats", n.istr.get(st))
		}
	}
	o.close()
	return o.b, typ
}

// relation writes database, schema, identifier, relation_name,
// materialization, the catalog's table facts and language.
func (n *normalizer) relation(o *obj, e *entry, typ string, self int32) {
	db, schema, ident, rel := e.database, e.schema, e.alias, e.relationName
	switch typ {
	case "source":
		ident = firstRaw(e.identifier, e.name)
	case "semantic_model":
		nr := e.nodeRelation
		db, schema, ident = artifact.Member(nr, "database"), artifact.Member(nr, "schema_name"), artifact.Member(nr, "alias")
		rel = firstRaw(rel, artifact.Member(nr, "relation_name"))
	}
	o.textOmit("database", db)
	o.textOmit("schema", schema)
	o.textOmit("identifier", ident)
	if isEmptyText(rel) {
		if name := n.builtRelation(e, typ, db, schema, ident); name != "" {
			o.str("relation_name", name)
		}
	} else {
		o.text("relation_name", rel)
	}
	o.textOmit("materialization", e.materialized)
	if n.cat[self] > 0 {
		c := n.cats.at(int(n.cat[self]) - 1)
		o.strOmit("table_type", n.istr.get(c.tableType))
		o.strOmit("table_comment", n.istr.get(c.comment))
		o.strOmit("table_owner", n.istr.get(c.owner))
	}
	o.textOmit("language", e.language)
}

// builtRelation is the relation name dbt would render, for manifests from
// before relation_name, when the asset is a relation in the warehouse.
func (n *normalizer) builtRelation(e *entry, typ string, db, schema, ident []byte) string {
	switch typ {
	case "model", "seed", "snapshot", "source":
	default:
		return ""
	}
	if artifact.RawText(e.materialized) == "ephemeral" || isEmptyText(ident) || isEmptyText(schema) {
		return ""
	}
	q := `"`
	switch n.adapter {
	case "bigquery", "spark", "databricks":
		q = "`"
	}
	var parts []string
	for _, p := range [][]byte{db, schema, ident} {
		if s := artifact.RawText(p); s != "" {
			parts = append(parts, q+s+q)
		}
	}
	return strings.Join(parts, ".")
}

// owner is meta.owner, else an exposure's owner, else the group's owner.
func (n *normalizer) owner(e *entry, typ, group string) string {
	o := artifact.Member(e.cMeta, "owner")
	if o == nil {
		o = artifact.Member(e.meta, "owner")
	}
	if s := ownerText(o); s != "" {
		return s
	}
	if typ == "exposure" {
		if s := ownerText(e.owner); s != "" {
			return s
		}
	}
	if g, ok := n.groups[group]; ok && group != "" {
		if g.OwnerName != "" {
			return g.OwnerName
		}
		return g.OwnerEmail
	}
	return ""
}

// ownerText is an owner written as a string or as {name, email}.
func ownerText(raw []byte) string {
	if artifact.IsObject(raw) {
		if s := artifact.RawText(artifact.Member(raw, "name")); s != "" {
			return s
		}
		return artifact.RawText(artifact.Member(raw, "email"))
	}
	if artifact.IsString(raw) {
		return artifact.RawText(raw)
	}
	return ""
}

func checksum(raw []byte) []byte {
	if artifact.IsObject(raw) {
		return artifact.Member(raw, "checksum")
	}
	return raw
}

// lineageOut writes downstream, tests and test_results.
func (n *normalizer) lineageOut(o *obj, self int32) {
	if down := n.down.of(self); len(down) > 0 {
		o.key("downstream")
		n.appendIDs(o, down, func(i int32) int32 { return i })
	}
	links := n.tests.of(self)
	if len(links) == 0 {
		return
	}
	o.key("tests")
	n.appendIDs(o, links, func(i int32) int32 { return n.links[i].test })
	if t, ran := n.testOutcomes(links, nil); ran > 0 {
		o.key("test_results")
		o.b = appendOutcomes(o.b, t)
	}
}

// appendIDs writes the unique_ids of nodes as a list, without repeats.
func (n *normalizer) appendIDs(o *obj, items []int32, id func(int32) int32) {
	o.b = append(o.b, '[')
	last := int32(-1)
	for _, it := range items {
		d := id(it)
		if d == last {
			continue
		}
		if last >= 0 {
			o.b = append(o.b, ',')
		}
		last = d
		o.b = appendString(o.b, n.ids[d])
	}
	o.b = append(o.b, ']')
}

func appendOutcomes(dst []byte, t events.TestOutcomes) []byte {
	o := obj{b: dst}
	o.open()
	o.int("pass", int64(t.Pass))
	o.int("warn", int64(t.Warn))
	o.int("fail", int64(t.Fail))
	o.int("error", int64(t.Error))
	o.int("skipped", int64(t.Skipped))
	o.int("other", int64(t.Other))
	o.close()
	return o.b
}

func firstRaw(vs ...[]byte) []byte {
	for _, v := range vs {
		if !isEmptyText(v) {
			return v
		}
	}
	return nil
}

// union is a followed by the items of b not in a; never nil.
func union(a, b []string) []string {
	out := a
	if out == nil {
		out = []string{}
	}
	for _, s := range b {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
