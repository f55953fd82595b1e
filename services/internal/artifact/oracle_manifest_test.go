package artifact

import (
	"context"
	"io"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// ResourceSections are the manifest's top-level objects whose entries are
// resources (harvested assets), keyed by unique_id. functions appeared in
// dbt 1.11 (manifest v12).
func ResourceSections() []string {
	return []string{"nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests", "functions"}
}

// Resource is one entry of any resource section of any manifest version: the
// union of the fields the versions use (dbt renamed raw_sql to raw_code in
// v7, added attached_node in v9, group/access/version in v10, ...). Fields a
// version lacks stay zero; unknown fields are ignored.
type Resource struct {
	UniqueID         Text     `json:"unique_id"`
	ResourceType     Text     `json:"resource_type"`
	Name             Text     `json:"name"`
	PackageName      Text     `json:"package_name"`
	Path             Text     `json:"path"`
	OriginalFilePath Text     `json:"original_file_path"`
	FQN              TextList `json:"fqn"`

	Database     Text `json:"database"`
	Schema       Text `json:"schema"`
	Alias        Text `json:"alias"`
	Identifier   Text `json:"identifier"` // sources
	RelationName Text `json:"relation_name"`
	Language     Text `json:"language"`

	Description   Text     `json:"description"`
	Label         Text     `json:"label"`
	Tags          TextList `json:"tags"`
	Meta          Object   `json:"meta"`
	Config        Config   `json:"config"`
	Group         Text     `json:"group"`
	Access        Text     `json:"access"`
	Version       Text     `json:"version"`
	LatestVersion Text     `json:"latest_version"`
	Contract      Contract `json:"contract"`

	Columns   Columns   `json:"columns"`
	DependsOn DependsOn `json:"depends_on"`
	Checksum  Checksum  `json:"checksum"`

	// Tests.
	TestMetadata TestMetadata `json:"test_metadata"`
	ColumnName   Text         `json:"column_name"`
	AttachedNode Text         `json:"attached_node"`

	// Sources.
	SourceName    Text   `json:"source_name"`
	Loader        Text   `json:"loader"`
	LoadedAtField Text   `json:"loaded_at_field"`
	Freshness     Object `json:"freshness"`

	// Exposures (type, maturity, url, owner); metrics (type, or
	// calculation_method in v7–v9; v1–v6 wrote type too).
	Type              Text  `json:"type"`
	Maturity          Text  `json:"maturity"`
	URL               Text  `json:"url"`
	Owner             Owner `json:"owner"`
	CalculationMethod Text  `json:"calculation_method"`

	// Semantic models (model, node_relation); unit tests (model).
	Model        Text         `json:"model"`
	NodeRelation NodeRelation `json:"node_relation"`

	// Code, read only with ManifestOptions.IncludeCode: raw_code and
	// compiled_code from v7, raw_sql and compiled_sql before.
	RawCode      string `json:"-"`
	CompiledCode string `json:"-"`
}

// Config is the part of a resource's config the harvest uses.
type Config struct {
	Materialized  Text     `json:"materialized"`
	Meta          Object   `json:"meta"`
	Tags          TextList `json:"tags"`
	Group         Text     `json:"group"`
	Access        Text     `json:"access"`
	Contract      Contract `json:"contract"`
	Severity      Text     `json:"severity"`
	WarnIf        Text     `json:"warn_if"`
	ErrorIf       Text     `json:"error_if"`
	LoadedAtField Text     `json:"loaded_at_field"`
	Freshness     Object   `json:"freshness"`
}

// Contract is a model contract (v9+).
type Contract struct {
	Enforced bool `json:"enforced"`
}

// DependsOn lists a resource's direct upstream nodes.
type DependsOn struct {
	Nodes TextList `json:"nodes"`
}

// TestMetadata says which generic test a test node instantiates.
type TestMetadata struct {
	Name      Text   `json:"name"`
	Namespace Text   `json:"namespace"`
	Kwargs    Object `json:"kwargs"`
}

// NodeRelation is a semantic model's relation.
type NodeRelation struct {
	Alias        Text `json:"alias"`
	SchemaName   Text `json:"schema_name"`
	Database     Text `json:"database"`
	RelationName Text `json:"relation_name"`
}

// Checksum is a file checksum: {name, checksum}, or a bare string.
type Checksum struct {
	Name     Text `json:"name"`
	Checksum Text `json:"checksum"`
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (c *Checksum) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		return c.Checksum.UnmarshalJSONFrom(dec)
	}
	type plain Checksum
	return json.UnmarshalDecode(dec, (*plain)(c))
}

// ColumnDef is a column declared in YAML.
type ColumnDef struct {
	Name        Text     `json:"name"`
	Description Text     `json:"description"`
	Meta        Object   `json:"meta"`
	DataType    Text     `json:"data_type"`
	Tags        TextList `json:"tags"`
	Config      struct {
		Meta Object   `json:"meta"`
		Tags TextList `json:"tags"`
	} `json:"config"`
}

// Columns are a resource's YAML columns in the order the manifest lists them.
type Columns []ColumnDef

// UnmarshalJSONFrom implements json.UnmarshalerFrom, keeping member order.
func (cs *Columns) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return orderedMembers(dec, func(key string) error {
		var c ColumnDef
		if err := json.UnmarshalDecode(dec, &c); err != nil {
			return err
		}
		if c.Name == "" {
			c.Name = Text(key)
		}
		*cs = append(*cs, c)
		return nil
	})
}

// orderedMembers calls fn for each member of the object that is the next
// value, in order; null and non-objects are skipped.
func orderedMembers(dec *jsontext.Decoder, fn func(key string) error) error {
	if dec.PeekKind() != '{' {
		return dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if err := fn(tok.String()); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// Group is a manifest group (v10+).
type Group struct {
	Name  Text  `json:"name"`
	Owner Owner `json:"owner"`
}

// resourceWithCode decodes a resource together with its code.
type resourceWithCode struct {
	Resource     `json:",inline"`
	XRawCode     Text `json:"raw_code"`
	XCompiled    Text `json:"compiled_code"`
	XRawSQL      Text `json:"raw_sql"`
	XCompiledSQL Text `json:"compiled_sql"`
}

// code picks the code fields of the artifact's version, falling back to the
// other spelling.
func (w *resourceWithCode) code(v Version) {
	raw, compiled := w.XRawCode, w.XCompiled
	old, oldCompiled := w.XRawSQL, w.XCompiledSQL
	if v.Read < 7 {
		raw, old = old, raw
		compiled, oldCompiled = oldCompiled, compiled
	}
	w.RawCode = string(firstText(raw, old))
	w.CompiledCode = string(firstText(compiled, oldCompiled))
}

func firstText(ts ...Text) Text {
	for _, t := range ts {
		if t != "" {
			return t
		}
	}
	return ""
}

// ManifestOptions tune oracleManifest.
type ManifestOptions struct {
	// IncludeCode reads raw and compiled code; without it code is skipped.
	IncludeCode bool
}

// ManifestHandler receives a manifest's entries as they are read. Each
// callback may be nil; an error from one stops the read and is returned
// unchanged. Values passed are not reused by the reader.
type ManifestHandler struct {
	// Metadata receives the metadata and the version it is read as, when
	// the metadata member is read (first, in every manifest dbt writes).
	Metadata func(Metadata, Version) error
	// Resource receives every entry of ResourceSections with its section
	// and member key (its unique_id).
	Resource func(section, key string, r *Resource) error
	// Group receives every entry of groups.
	Group func(key string, g *Group) error
	// ParentMap and ChildMap receive each entry of parent_map and child_map.
	ParentMap func(id string, ids []string) error
	ChildMap  func(id string, ids []string) error
}

// oracleManifest streams manifest.json from r: it walks the top-level object
// and decodes one entry at a time, skipping macros, docs, disabled and
// everything else without decoding it. The whole document is never held in
// memory. A malformed document is a retry.Permanent error naming the byte
// offset; an entry with fields of an unexpected type is kept with what could
// be read, and reported in Info.Warnings.
func oracleManifest(ctx context.Context, r io.Reader, opts ManifestOptions, h ManifestHandler) (Info, error) {
	rd := newReader(ctx, r, KindManifest)
	rd.onMeta = h.Metadata
	err := rd.walk(func(name string) (bool, error) {
		switch name {
		case "nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests", "functions":
			return true, rd.resources(name, opts, h.Resource)
		case "groups":
			if h.Group == nil {
				return false, nil
			}
			return true, rd.members(name, func(key string) error {
				var g Group
				if err := rd.entry("groups."+key, &g); err != nil {
					return err
				}
				return h.Group(key, &g)
			})
		case "parent_map":
			return h.ParentMap != nil, rd.edges(name, h.ParentMap)
		case "child_map":
			return h.ChildMap != nil, rd.edges(name, h.ChildMap)
		}
		return false, nil
	})
	if err != nil {
		return rd.info, err
	}
	return rd.finish(), nil
}

func (rd *reader) resources(section string, opts ManifestOptions, fn func(section, key string, r *Resource) error) error {
	return rd.members(section, func(key string) error {
		if fn == nil {
			return rd.skip()
		}
		var r *Resource
		if opts.IncludeCode {
			w := new(resourceWithCode)
			if err := rd.entry(section+"."+key, w); err != nil {
				return err
			}
			w.code(rd.info.Version)
			r = &w.Resource
		} else {
			r = new(Resource)
			if err := rd.entry(section+"."+key, r); err != nil {
				return err
			}
		}
		return fn(section, key, r)
	})
}

func (rd *reader) edges(section string, fn func(id string, ids []string) error) error {
	if fn == nil {
		return nil
	}
	return rd.members(section, func(key string) error {
		var ids TextList
		if err := rd.entry(section+"."+key, &ids); err != nil {
			return err
		}
		return fn(key, ids)
	})
}
