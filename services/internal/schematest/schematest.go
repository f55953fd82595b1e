// Package schematest checks events against the repository's JSON Schemas, for
// tests, as net/http/httptest serves HTTP for tests.
//
// Every event the harvester publishes is a CloudEvent in structured JSON mode
// whose dataschema attribute names its schema: [events.SchemaBase] followed by
// a file name in the repository's schemas/ folder. [Validate] and
// [Validator.Validate] load that folder (found with [corpus.RepoRoot]), compile
// every schema with format assertions on, and validate the whole event, its
// envelope and its data, against the schema its dataschema names.
//
//	ev, _ := events.New(events.TypeAssetHarvested, id, ref, "", at, asset)
//	b, _ := events.Encode(ev)
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
	schemas map[string]*jsonschema.Schema // by $id, which is the dataschema URI
}

// Dir is the repository's schemas/ folder.
func Dir(t testing.TB) string {
	t.Helper()
	return filepath.Join(corpus.RepoRoot(t), "schemas")
}

// Validate checks a structured-mode CloudEvent (raw JSON bytes) against the
// schema its dataschema names, loaded from <repo>/schemas. A violation is
// reported with t.Errorf, listing every failing location; the test goes on.
func Validate(t testing.TB, event []byte) {
	t.Helper()
	if err := New(t).Validate(event); err != nil {
		t.Errorf("schematest: %v", err)
	}
}

// New loads and compiles every schema in <repo>/schemas. Broken schemas, or a
// file whose $id is not [events.SchemaBase] + its file name, fail the test.
func New(t testing.TB) *Validator {
	t.Helper()
	v, err := Load(Dir(t))
	if err != nil {
		t.Fatalf("schematest: %v", err)
	}
	return v
}

// Load compiles every *.json schema in dir. Each file's $id must be
// [events.SchemaBase] followed by the file name, so that the dataschema of an
// event, and references between files, resolve without a network.
func Load(dir string) (*Validator, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.json schemas in %s", dir)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	ids := make([]string, 0, len(files))
	for _, f := range files {
		id, doc, err := readSchema(f)
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

// readSchema reads one schema file and checks that its $id matches its name.
func readSchema(path string) (string, any, error) {
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
	if want := events.SchemaBase + filepath.Base(path); id != want {
		return "", nil, fmt.Errorf("schema %s: $id is %q, want %q", path, id, want)
	}
	return id, doc, nil
}

// Validate checks one structured-mode CloudEvent (raw JSON bytes) against the
// schema its dataschema attribute names. The error says which event and
// schema, and lists every failing location.
func (v *Validator) Validate(event []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(event))
	if err != nil {
		return fmt.Errorf("event is not JSON: %w", err)
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return errors.New("event is not a JSON object")
	}
	id, _ := obj["id"].(string)
	ds, ok := obj["dataschema"].(string)
	if !ok {
		return fmt.Errorf("event %q has no dataschema string", id)
	}
	s, ok := v.schemas[ds]
	if !ok {
		return fmt.Errorf("event %q: dataschema %q is none of the known schemas %s", id, ds, strings.Join(v.IDs(), ", "))
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("event %q against %s: %w", id, ds, err)
	}
	return nil
}

// IDs lists the $id of every loaded schema, sorted.
func (v *Validator) IDs() []string {
	return slices.Sorted(maps.Keys(v.schemas))
}
