// Package schematest checks events against the repository's JSON Schemas, for
// tests, as net/http/httptest serves HTTP for tests.
//
// Every event the harvester publishes is a CloudEvent in structured JSON mode.
// Its dataschema attribute names the schema of its data alone
// ([events.DataSchema]: [events.SchemaBase] + "data/" + a file name in the
// repository's schemas/data/ folder), as CloudEvents 1.0 defines dataschema;
// the schema of the whole message, envelope and data, is the file of the same
// name in schemas/ ([events.MessageSchema]). [Validate] and
// [Validator.Validate] load both folders (found with [corpus.RepoRoot]),
// compile every schema with format assertions on, and validate the whole
// event against its type's message schema and its data alone against the
// schema its dataschema names ([Validator.ValidateData]).
//
//	m, _ := events.NewAssetHarvested(asset, 1, at, events.Trace{})
//	b, _ := events.Encode(m.Event)
//	schematest.Validate(t, b)
//
// A [Validator] holds compiled schemas and is safe for concurrent use; build
// one with [New] when a test validates many events.
package schematest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/corpus"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Validator validates structured-mode CloudEvents against the compiled
// schemas of one schemas/ folder. Its methods are safe for concurrent use.
type Validator struct {
	schemas map[string]*jsonschema.Schema // by $id: SchemaBase + the path under schemas/
}

// Dir is the repository's schemas/ folder.
func Dir(t testing.TB) string {
	t.Helper()
	return filepath.Join(corpus.RepoRoot(t), "schemas")
}

// Validate checks a structured-mode CloudEvent (raw JSON bytes) as
// [Validator.Validate] does, with the schemas of <repo>/schemas. A violation
// is reported with t.Errorf, listing every failing location; the test goes on.
func Validate(t testing.TB, event []byte) {
	t.Helper()
	if err := New(t).Validate(event); err != nil {
		t.Errorf("schematest: %v", err)
	}
}

// New loads and compiles every schema in <repo>/schemas and
// <repo>/schemas/data. Broken schemas, or a file whose $id is not
// [events.SchemaBase] + its path under schemas/, fail the test.
func New(t testing.TB) *Validator {
	t.Helper()
	v, err := Load(Dir(t))
	if err != nil {
		t.Fatalf("schematest: %v", err)
	}
	return v
}

// Load compiles every *.json schema in dir and dir/data. Each file's $id
// must be [events.SchemaBase] followed by its path relative to dir (e.g.
// data/dbt.harvester.asset.harvested.v1.json), so that an event's dataschema,
// and references between files, resolve without a network.
func Load(dir string) (*Validator, error) {
	var files []string
	for _, sub := range []string{"", "data"} {
		f, err := filepath.Glob(filepath.Join(dir, sub, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("list schemas: %w", err)
		}
		files = append(files, f...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.json schemas in %s", dir)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	ids := make([]string, 0, len(files))
	for _, f := range files {
		id, doc, err := readSchema(dir, f)
		if err != nil {
			return nil, err
		}
		if err := c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", f, err)
		}
		ids = append(ids, id)
	}
	v := &Validator{schemas: make(map[string]*jsonschema.Schema, len(ids))}
	for _, id := range ids {
		s, err := c.Compile(id)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", id, err)
		}
		v.schemas[id] = s
	}
	return v, nil
}

// readSchema reads one schema file and checks that its $id matches its path
// under dir.
func readSchema(dir, path string) (string, any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("read schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return "", nil, fmt.Errorf("parse schema %s: %w", path, err)
	}
	obj, _ := doc.(map[string]any)
	id, _ := obj["$id"].(string)
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return "", nil, fmt.Errorf("schema %s: %w", path, err)
	}
	if want := events.SchemaBase + filepath.ToSlash(rel); id != want {
		return "", nil, fmt.Errorf("schema %s: $id is %q, want %q", path, id, want)
	}
	return id, doc, nil
}

// Validate checks one structured-mode CloudEvent (raw JSON bytes): the whole
// event against the message schema of its type ([events.MessageSchema]),
// then its data alone against the schema its dataschema attribute names
// ([Validator.ValidateData]). The error says which event and schema, and
// lists every failing location.
func (v *Validator) Validate(event []byte) error {
	inst, obj, err := parseEvent(event)
	if err != nil {
		return err
	}
	id, _ := obj["id"].(string)
	typ, ok := obj["type"].(string)
	if !ok {
		return fmt.Errorf("event %q has no type string", id)
	}
	ms := events.MessageSchema(typ)
	s, ok := v.schemas[ms]
	if !ok {
		return fmt.Errorf("event %q: type %q has no message schema %s", id, typ, ms)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("event %q against %s: %w", id, ms, err)
	}
	return v.validateData(obj)
}

// ValidateData checks the data of one structured-mode CloudEvent (raw JSON
// bytes) alone, without its envelope, against the schema its dataschema
// attribute names, as a consumer that follows CloudEvents 1.0 would.
func (v *Validator) ValidateData(event []byte) error {
	_, obj, err := parseEvent(event)
	if err != nil {
		return err
	}
	return v.validateData(obj)
}

func (v *Validator) validateData(obj map[string]any) error {
	id, _ := obj["id"].(string)
	ds, ok := obj["dataschema"].(string)
	if !ok {
		return fmt.Errorf("event %q has no dataschema string", id)
	}
	s, ok := v.schemas[ds]
	if !ok {
		return fmt.Errorf("event %q: dataschema %q is none of the known schemas %s", id, ds, strings.Join(v.IDs(), ", "))
	}
	data, ok := obj["data"]
	if !ok {
		return fmt.Errorf("event %q has no data", id)
	}
	if err := s.Validate(data); err != nil {
		return fmt.Errorf("data of event %q against its dataschema %s: %w", id, ds, err)
	}
	return nil
}

// parseEvent reads a structured-mode CloudEvent as a JSON object.
func parseEvent(event []byte) (any, map[string]any, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(event))
	if err != nil {
		return nil, nil, fmt.Errorf("event is not JSON: %w", err)
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return nil, nil, errors.New("event is not a JSON object")
	}
	return inst, obj, nil
}

// IDs lists the $id of every loaded schema, sorted.
func (v *Validator) IDs() []string {
	return slices.Sorted(maps.Keys(v.schemas))
}
