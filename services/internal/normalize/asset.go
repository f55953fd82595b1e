package normalize

import (
	"strings"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// testLink is a test waiting for the end of the manifest to be attached.
type testLink struct {
	test     string
	attached string   // attached_node, when the manifest says
	refName  string   // the model the test is defined on, from kwargs.model or a unit test's model
	deps     []string // depends_on.nodes
	column   string
}

// sectionType is the resource type of entries of a manifest section that do
// not say theirs.
func sectionType(section, key string) string {
	switch section {
	case "sources":
		return "source"
	case "exposures":
		return "exposure"
	case "metrics":
		return "metric"
	case "semantic_models":
		return "semantic_model"
	case "saved_queries":
		return "saved_query"
	case "unit_tests":
		return "unit_test"
	case "functions":
		return "function"
	}
	typ, _, _ := strings.Cut(key, ".")
	return typ
}

func (n *normalizer) addResource(section, key string, r *artifact.Resource) error {
	a := n.convert(section, key, r)
	n.assets = append(n.assets, a)
	n.byID[a.UniqueID] = a
	switch a.ResourceType {
	case "test":
		n.tests = append(n.tests, testLink{
			test: a.UniqueID, attached: string(r.AttachedNode), column: a.Test.ColumnName,
			refName: refName(r.TestMetadata.Kwargs["model"]), deps: a.DependsOn,
		})
	case "unit_test":
		n.tests = append(n.tests, testLink{test: a.UniqueID, refName: string(r.Model), deps: a.DependsOn})
	}
	return nil
}

// convert builds the asset of one manifest entry, joined with the indexes.
func (n *normalizer) convert(section, key string, r *artifact.Resource) *events.Asset {
	a := &events.Asset{
		UniqueID:         key,
		ResourceType:     n.intern(string(r.ResourceType)),
		Name:             string(r.Name),
		PackageName:      n.intern(string(r.PackageName)),
		OriginalFilePath: string(r.OriginalFilePath),
		Path:             string(r.Path),
		FQN:              n.internAll(r.FQN),
		Database:         n.intern(string(r.Database)),
		Schema:           n.intern(string(r.Schema)),
		Identifier:       string(r.Alias),
		RelationName:     string(r.RelationName),
		Materialization:  n.intern(string(r.Config.Materialized)),
		Language:         n.intern(string(r.Language)),
		Description:      string(r.Description),
		Label:            string(r.Label),
		Tags:             n.internAll(union(r.Tags, r.Config.Tags)),
		Meta:             mergeMeta(r.Meta, r.Config.Meta),
		Group:            n.intern(string(firstText(r.Group, r.Config.Group))),
		Access:           n.intern(string(firstText(r.Access, r.Config.Access))),
		Version:          string(r.Version),
		LatestVersion:    string(r.LatestVersion),
		ContractEnforced: r.Contract.Enforced || r.Config.Contract.Enforced,
		DependsOn:        n.internAll(r.DependsOn.Nodes),
		Checksum:         string(r.Checksum.Checksum),
		RawCode:          r.RawCode,
		CompiledCode:     r.CompiledCode,
		Result:           n.idx.results[key],
	}
	if a.ResourceType == "" {
		a.ResourceType = sectionType(section, key)
	}
	a.Owner = metaOwner(a.Meta)
	n.typed(a, r)
	if a.RelationName == "" && hasRelation(a) {
		a.RelationName = buildRelation(n.adapterType(), a.Database, a.Schema, a.Identifier)
	}
	cat := n.idx.catalog[key]
	if cat != nil {
		cat.used = true
		a.TableType, a.TableComment, a.TableOwner, a.Stats = cat.tableType, cat.comment, cat.owner, cat.stats
	}
	a.Columns = mergeColumns(r.Columns, cat)
	return a
}

// typed fills what only some resource types have.
func (n *normalizer) typed(a *events.Asset, r *artifact.Resource) {
	switch a.ResourceType {
	case "source":
		a.Identifier = string(firstText(r.Identifier, r.Name))
		a.Source = &events.SourceInfo{
			SourceName:    string(r.SourceName),
			Loader:        string(r.Loader),
			LoadedAtField: string(firstText(r.LoadedAtField, r.Config.LoadedAtField)),
			Freshness:     firstObject(r.Freshness, r.Config.Freshness),
		}
		if f := n.idx.freshness[a.UniqueID]; f != nil {
			a.Result = freshnessResult(a.Result, f, n.freshnessInvocation)
		}
	case "test":
		a.Test = &events.TestInfo{
			TestName:     testName(r.TestMetadata),
			Kwargs:       r.TestMetadata.Kwargs,
			AttachedNode: string(r.AttachedNode),
			ColumnName:   string(firstText(r.ColumnName, kwargText(r.TestMetadata.Kwargs, "column_name"))),
			Severity:     string(r.Config.Severity),
			WarnIf:       string(r.Config.WarnIf),
			ErrorIf:      string(r.Config.ErrorIf),
		}
	case "unit_test":
		a.Test = &events.TestInfo{}
	case "exposure":
		a.Exposure = &events.ExposureInfo{
			Type:       string(r.Type),
			Maturity:   string(r.Maturity),
			URL:        string(r.URL),
			OwnerName:  string(r.Owner.Name),
			OwnerEmail: string(r.Owner.Email),
		}
		if a.Owner == "" {
			a.Owner = string(firstText(r.Owner.Name, r.Owner.Email))
		}
	case "metric":
		a.MetricType = string(firstText(r.Type, r.CalculationMethod))
	case "semantic_model":
		nr := r.NodeRelation
		a.Database, a.Schema, a.Identifier = string(nr.Database), string(nr.SchemaName), string(nr.Alias)
		a.RelationName = string(firstText(r.RelationName, nr.RelationName))
	}
}

func (n *normalizer) adapterType() string { return n.adapter }

// hasRelation reports whether the asset is a relation in the warehouse.
func hasRelation(a *events.Asset) bool {
	switch a.ResourceType {
	case "model", "seed", "snapshot", "source":
		return a.Materialization != "ephemeral" && a.Identifier != "" && a.Schema != ""
	}
	return false
}

// buildRelation builds a relation name as dbt renders it when old manifests
// (before relation_name existed) do not say: quoted parts joined by dots.
func buildRelation(adapter, database, schema, identifier string) string {
	q := `"`
	switch adapter {
	case "bigquery", "spark", "databricks":
		q = "`"
	}
	var parts []string
	for _, p := range []string{database, schema, identifier} {
		if p != "" {
			parts = append(parts, q+p+q)
		}
	}
	return strings.Join(parts, ".")
}

func testName(m artifact.TestMetadata) string {
	if m.Namespace != "" && m.Name != "" {
		return string(m.Namespace) + "." + string(m.Name)
	}
	return string(m.Name)
}

func kwargText(kw map[string]any, k string) artifact.Text {
	s, _ := kw[k].(string)
	return artifact.Text(s)
}

// refName extracts X from a test's model kwarg "{{ get_where_subquery(ref('X')) }}"
// or "source('s', 't')" (as "s.t"); "" when it says neither.
func refName(v any) string {
	s, _ := v.(string)
	for _, fn := range []string{"ref(", "source("} {
		i := strings.Index(s, fn)
		if i < 0 {
			continue
		}
		args := s[i+len(fn):]
		if j := strings.Index(args, ")"); j >= 0 {
			args = args[:j]
		}
		var names []string
		for _, a := range strings.Split(args, ",") {
			a = strings.Trim(strings.TrimSpace(a), `'"`)
			if a != "" && !strings.Contains(a, "=") {
				names = append(names, a)
			}
		}
		if fn == "ref(" && len(names) > 0 {
			return names[len(names)-1]
		}
		return strings.Join(names, ".")
	}
	return ""
}

// metaOwner is meta.owner as a string (a name, an email, or an object's name/email).
func metaOwner(meta map[string]any) string {
	switch o := meta["owner"].(type) {
	case string:
		return o
	case map[string]any:
		for _, k := range []string{"name", "email"} {
			if s, ok := o[k].(string); ok && s != "" {
				return s
			}
		}
	}
	return ""
}

func firstText(ts ...artifact.Text) artifact.Text {
	for _, t := range ts {
		if t != "" {
			return t
		}
	}
	return ""
}

func firstObject(os ...artifact.Object) map[string]any {
	for _, o := range os {
		if o != nil {
			return o
		}
	}
	return nil
}

// mergeMeta is meta with config.meta merged over it; nil when both are empty.
func mergeMeta(meta, config artifact.Object) map[string]any {
	switch {
	case len(config) == 0:
		return meta
	case len(meta) == 0:
		return config
	}
	out := make(map[string]any, len(meta)+len(config))
	for k, v := range meta {
		out[k] = v
	}
	for k, v := range config {
		out[k] = v
	}
	return out
}

// union is a followed by the items of b not in a.
func union(a, b []string) []string {
	out := a
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

// intern returns the normalizer's copy of s, so that the many assets that
// share a package, schema, tag or dependency share one string.
func (n *normalizer) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := n.strings[s]; ok {
		return v
	}
	n.strings[s] = s
	return s
}

// internAll interns every item of list, in place.
func (n *normalizer) internAll(list []string) []string {
	for i, s := range list {
		list[i] = n.intern(s)
	}
	return list
}
