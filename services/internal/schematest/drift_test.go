package schematest

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dbt-harvester/harvester/events"
)

// The drift tests walk the Go types of the events package by reflection, next
// to the JSON Schemas, so that neither can change without the other: every json
// member must be a property and every property a member (both ways), required
// must be exactly the members without omitempty, JSON types must match Go
// kinds, and null must be allowed exactly where encoding/json writes it.

// docs are the raw schema documents by $id, for walking (not validating).
type docs map[string]map[string]any

func loadDocs(t *testing.T) docs {
	t.Helper()
	var files []string
	for _, sub := range []string{"", "data"} {
		f, err := filepath.Glob(filepath.Join(Dir(t), sub, "*.json"))
		if err != nil {
			t.Fatalf("list schemas: %v", err)
		}
		files = append(files, f...)
	}
	d := docs{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read schema: %v", err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		rel, err := filepath.Rel(Dir(t), f)
		if err != nil {
			t.Fatal(err)
		}
		d[events.SchemaBase+filepath.ToSlash(rel)] = doc
	}
	return d
}

// node is a schema object and the $id of the document it is in, against which
// its $ref resolve.
type node struct {
	base string
	m    map[string]any
}

// ref follows n's $ref, if any, once.
func (d docs) ref(t *testing.T, n node) (node, bool) {
	t.Helper()
	r, ok := n.m["$ref"].(string)
	if !ok {
		return n, false
	}
	file, frag, _ := strings.Cut(r, "#")
	base := n.base
	if file != "" {
		u, err := url.Parse(n.base)
		if err != nil {
			t.Fatalf("%s: %v", n.base, err)
		}
		f, err := url.Parse(file)
		if err != nil {
			t.Fatalf("%s: $ref %q: %v", n.base, r, err)
		}
		base = u.ResolveReference(f).String() // data/x.json, ../defs.json: against the document's $id
	}
	cur, ok := d[base]
	if !ok {
		t.Fatalf("%s: $ref %q: no schema %s", n.base, r, base)
	}
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		next, ok := cur[tok].(map[string]any)
		if !ok {
			t.Fatalf("%s: $ref %q: no %q", n.base, r, tok)
		}
		cur = next
	}
	return node{base, cur}, true
}

// lookup is the first value of key found on n or along its $ref chain.
func (d docs) lookup(t *testing.T, n node, key string) (any, bool) {
	t.Helper()
	for range 10 {
		if v, ok := n.m[key]; ok {
			return v, true
		}
		var more bool
		if n, more = d.ref(t, n); !more {
			return nil, false
		}
	}
	t.Fatalf("%s: $ref chain too long", n.base)
	return nil, false
}

// object is the node along n's $ref chain that has properties.
func (d docs) object(t *testing.T, n node) (node, bool) {
	t.Helper()
	for range 10 {
		if _, ok := n.m["properties"]; ok {
			return n, true
		}
		var more bool
		if n, more = d.ref(t, n); !more {
			return n, false
		}
	}
	return n, false
}

// child is the subschema under key (items, additionalProperties) along n's
// $ref chain.
func (d docs) child(t *testing.T, n node, key string) (node, bool) {
	t.Helper()
	for range 10 {
		if m, ok := n.m[key].(map[string]any); ok {
			return node{n.base, m}, true // resolves against the document it is in
		}
		var more bool
		if n, more = d.ref(t, n); !more {
			return node{}, false
		}
	}
	return node{}, false
}

// jsonTypes is the set of JSON types a schema node allows.
func (d docs) jsonTypes(t *testing.T, n node) []string {
	t.Helper()
	v, ok := d.lookup(t, n, "type")
	if !ok {
		return nil
	}
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, s := range v {
			out = append(out, s.(string))
		}
		sort.Strings(out)
		return out
	}
	t.Fatalf("%s: type %v is neither a string nor a list", n.base, v)
	return nil
}

// field is one member of a Go struct as encoding/json writes it.
type field struct {
	name      string
	typ       reflect.Type
	omitempty bool
}

// jsonFields lists typ's members with encoding/json's rules for tags and
// embedded structs.
func jsonFields(typ reflect.Type) []field {
	var out []field
	for f := range typ.Fields() {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, field{name, f.Type, slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	return out
}

// isTime reports whether typ is time.Time, which encodes as an RFC 3339 string.
func isTime(typ reflect.Type) bool { return typ == reflect.TypeFor[time.Time]() }

// wantJSONType is the JSON type encoding/json writes for a value of typ, and
// whether it may write null.
func wantJSONType(typ reflect.Type) (string, bool) {
	switch typ.Kind() {
	case reflect.String:
		return "string", false
	case reflect.Bool:
		return "boolean", false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer", false
	case reflect.Float32, reflect.Float64:
		return "number", false
	case reflect.Struct:
		if isTime(typ) {
			return "string", false
		}
		return "object", false
	case reflect.Slice, reflect.Array:
		return "array", typ.Kind() == reflect.Slice
	case reflect.Map:
		return "object", true
	case reflect.Pointer:
		j, _ := wantJSONType(typ.Elem())
		return j, true
	}
	return "", true // interfaces: anything
}

// checkStruct compares the object schema n with the Go struct typ, then
// recurses into every member whose type is (or contains) a struct.
func (d docs) checkStruct(t *testing.T, path string, typ reflect.Type, n node) {
	t.Helper()
	obj, ok := d.object(t, n)
	if !ok {
		t.Errorf("%s (%s): schema has no properties", path, typ)
		return
	}
	props, _ := obj.m["properties"].(map[string]any)
	if ap, ok := obj.m["additionalProperties"].(bool); !ok || ap {
		t.Errorf("%s (%s): schema must say additionalProperties: false", path, typ)
	}
	fields := jsonFields(typ)
	var names, required []string
	for _, f := range fields {
		names = append(names, f.name)
		if !f.omitempty {
			required = append(required, f.name)
		}
	}
	for _, name := range names {
		if _, ok := props[name]; !ok {
			t.Errorf("%s: Go member %q of %s is not in the schema's properties (%s)", path, name, typ, obj.base)
		}
	}
	for name := range props {
		if !slices.Contains(names, name) {
			t.Errorf("%s: schema property %q (%s) is not a json member of %s", path, name, obj.base, typ)
		}
	}
	var gotRequired []string
	for _, r := range asList(obj.m["required"]) {
		gotRequired = append(gotRequired, r.(string))
	}
	slices.Sort(required)
	slices.Sort(gotRequired)
	if !slices.Equal(gotRequired, required) {
		t.Errorf("%s (%s): schema required = %q, want the members without omitempty %q", path, typ, gotRequired, required)
	}
	for _, f := range fields {
		p, ok := props[f.name].(map[string]any)
		if !ok {
			continue
		}
		d.checkMember(t, path+"."+f.name, f, node{obj.base, p})
	}
}

// checkMember compares one property with one Go member and recurses.
func (d docs) checkMember(t *testing.T, path string, f field, n node) {
	t.Helper()
	want, nullable := wantJSONType(f.typ)
	nullable = nullable && !f.omitempty
	got := d.jsonTypes(t, n)
	switch {
	case want == "":
	case len(got) == 0:
		t.Errorf("%s: schema states no type, want %s", path, want)
	default:
		wantTypes := []string{want}
		if nullable {
			wantTypes = append(wantTypes, "null")
		}
		slices.Sort(wantTypes)
		if !slices.Equal(got, wantTypes) {
			t.Errorf("%s: schema type %q, want %q for Go %s (omitempty: %v)", path, got, wantTypes, f.typ, f.omitempty)
		}
	}
	elem := f.typ
	for elem.Kind() == reflect.Pointer {
		elem = elem.Elem()
	}
	if isTime(elem) {
		if format, _ := d.lookup(t, n, "format"); format != "date-time" {
			t.Errorf("%s: schema format %v, want date-time for a time.Time", path, format)
		}
		return
	}
	switch elem.Kind() {
	case reflect.Struct:
		d.checkStruct(t, path, elem, n)
	case reflect.Slice, reflect.Map:
		key := "items"
		if elem.Kind() == reflect.Map {
			key = "additionalProperties"
		}
		inner := elem.Elem()
		if inner.Kind() == reflect.Interface {
			return
		}
		c, ok := d.child(t, n, key)
		if !ok {
			t.Errorf("%s: schema has no %s for the elements of Go %s", path, key, elem)
			return
		}
		d.checkMember(t, path+"[]", field{name: f.name, typ: inner, omitempty: true}, c)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestSchemasMatchTypes: the harvester's data types and their schemas.
func TestSchemasMatchTypes(t *testing.T) {
	d := loadDocs(t)
	defs := events.SchemaBase + "dbt.harvester.defs.v1.json"
	for _, tt := range []struct {
		name string
		typ  reflect.Type
		at   node
	}{
		{events.TypeArtifactsFetched, reflect.TypeFor[events.ArtifactsFetched](), dataNode(t, d, events.TypeArtifactsFetched)},
		{events.TypeAssetHarvested, reflect.TypeFor[events.Asset](), dataNode(t, d, events.TypeAssetHarvested)},
		{events.TypeHarvestCompleted, reflect.TypeFor[events.HarvestCompleted](), dataNode(t, d, events.TypeHarvestCompleted)},
		{events.TypeHarvestFailed, reflect.TypeFor[events.HarvestFailed](), dataNode(t, d, events.TypeHarvestFailed)},
		{"RunRef", reflect.TypeFor[events.RunRef](), node{defs, map[string]any{"$ref": "#/$defs/RunRef"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d.checkStruct(t, "data", tt.typ, tt.at)
		})
	}
}

// TestWebhookSchemaNamesParsedFields: the webhook schema stays tolerant
// (dbt's members it does not list are allowed), but every member the receiver
// parses must be documented there.
func TestWebhookSchemaNamesParsedFields(t *testing.T) {
	d := loadDocs(t)
	top, ok := d.object(t, dataNode(t, d, events.TypeRunCompleted))
	if !ok {
		t.Fatal("run webhook data schema has no properties")
	}
	props, _ := top.m["properties"].(map[string]any)
	inner, ok := d.object(t, node{top.base, props["data"].(map[string]any)})
	if !ok {
		t.Fatal("run webhook data.data schema has no properties")
	}
	for _, tt := range []struct {
		typ   reflect.Type
		props map[string]any
	}{
		{reflect.TypeFor[events.RunWebhook](), props},
		{reflect.TypeFor[events.RunWebhookData](), inner.m["properties"].(map[string]any)},
	} {
		for _, f := range jsonFields(tt.typ) {
			if _, ok := tt.props[f.name]; !ok {
				t.Errorf("%s member %q is not documented in %s", tt.typ, f.name, top.base)
			}
		}
	}
	if _, ok := props["webhooksID"]; !ok {
		t.Errorf("the older spelling webhooksID is not documented in %s", top.base)
	}
}

// dataNode is the schema of the data of event type typ: the one its
// dataschema names, which the `data` property of its message schema must
// refer to.
func dataNode(t *testing.T, d docs, typ string) node {
	t.Helper()
	id := events.DataSchema(typ)
	doc, ok := d[id]
	if !ok {
		t.Fatalf("no data schema %s", id)
	}
	msg, ok := d[events.MessageSchema(typ)]
	if !ok {
		t.Fatalf("no message schema %s", events.MessageSchema(typ))
	}
	props, _ := msg["properties"].(map[string]any)
	data, ok := props["data"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no properties.data", events.MessageSchema(typ))
	}
	if got, _ := d.ref(t, node{events.MessageSchema(typ), data}); got.base != id {
		t.Errorf("%s: properties.data refers to %s, want the data schema %s", events.MessageSchema(typ), got.base, id)
	}
	return node{id, doc}
}

// TestEveryPropertyDescribed: the schemas are the subscribers' documentation,
// so every property has a description, on itself or on what it refers to.
func TestEveryPropertyDescribed(t *testing.T) {
	d := loadDocs(t)
	for id, doc := range d {
		if _, ok := doc["description"].(string); !ok {
			t.Errorf("%s has no description", id)
		}
		d.walkProperties(t, id, doc, "#", func(path string, n node) {
			if desc, ok := d.lookup(t, n, "description"); !ok || desc == "" {
				t.Errorf("%s: property has no description", path)
			}
		})
	}
}

// walkProperties calls fn for every member of every properties object in m,
// skipping the if/then/else of conditionals, which only restate constants.
func (d docs) walkProperties(t *testing.T, base string, m map[string]any, path string, fn func(string, node)) {
	t.Helper()
	for k, v := range m {
		switch k {
		case "if", "then", "else":
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			if k == "properties" {
				for name, p := range v {
					if pm, ok := p.(map[string]any); ok {
						fn(base+path+"/properties/"+name, node{base, pm})
					}
				}
			}
			d.walkProperties(t, base, v, path+"/"+k, fn)
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					d.walkProperties(t, base, em, path+"/"+k+"[]", fn)
				}
			}
		}
	}
}

// TestExamplesAreFullyPopulated keeps the full examples full: a field added
// to the events types must be set in them, so that it is validated too.
func TestExamplesAreFullyPopulated(t *testing.T) {
	for _, ex := range fullExamples(t) {
		if _, raw := ex.data.(json.RawMessage); raw {
			continue
		}
		t.Run(ex.name, func(t *testing.T) {
			for _, path := range zeroFields(reflect.ValueOf(ex.data), "data") {
				t.Errorf("%s is zero in the full example of %s; set it in examples_test.go", path, ex.typ)
			}
		})
	}
}

// zeroFields lists the paths of zero struct fields, nil pointers and empty
// slices and maps in v, recursively.
func zeroFields(v reflect.Value, path string) []string {
	if v.Kind() != reflect.Struct && v.IsZero() {
		return []string{path}
	}
	var out []string
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.Elem().Kind() != reflect.Struct {
			return nil // a set pointer to a scalar is populated, even to 0
		}
		return zeroFields(v.Elem(), path)
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		return zeroFields(v.Index(0), path+"[0]")
	case reflect.Map:
		if v.Len() == 0 {
			return []string{path}
		}
	case reflect.Struct:
		if isTime(v.Type()) {
			if v.IsZero() {
				return []string{path}
			}
			return nil
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			out = append(out, zeroFields(v.Field(i), path+"."+f.Name)...)
		}
	}
	return out
}
