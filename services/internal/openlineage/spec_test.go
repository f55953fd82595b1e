package openlineage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
	"github.com/dbt-harvester/harvester/services/internal/schematest"
)

// specValidator validates RunEvents against the OpenLineage spec's JSON
// Schemas in ../shared/reference/openlineage-spec (never copied into the
// repository) and the harvester's custom facets against schemas/.
type specValidator struct {
	mu       sync.Mutex
	c        *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
	facetKey map[string]string // facet schema $id -> the facet's key (its file's only property)
}

func newSpecValidator(t testing.TB) *specValidator {
	t.Helper()
	dir := filepath.Join(corpus.Reference(t), "openlineage-spec")
	files, _ := filepath.Glob(filepath.Join(dir, "facets", "*.json"))
	files = append(files, filepath.Join(dir, "OpenLineage.json"))
	repo, _ := filepath.Glob(filepath.Join(schematest.Dir(t), "*.json"))
	v := &specValidator{c: jsonschema.NewCompiler(), compiled: map[string]*jsonschema.Schema{}, facetKey: map[string]string{}}
	v.c.DefaultDraft(jsonschema.Draft2020)
	v.c.AssertFormat()
	for _, f := range append(files, repo...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		m, _ := doc.(map[string]any)
		id, _ := m["$id"].(string)
		if id == "" {
			t.Fatalf("%s has no $id", f)
		}
		if err := v.c.AddResource(id, doc); err != nil {
			t.Fatalf("add %s: %v", f, err)
		}
		if props, ok := m["properties"].(map[string]any); ok && len(props) == 1 && strings.Contains(f, "facets") {
			for k := range props {
				v.facetKey[id] = k
			}
		}
	}
	if len(v.facetKey) < 30 {
		t.Fatalf("found %d facet schemas in %s, want the spec's", len(v.facetKey), dir)
	}
	return v
}

func (v *specValidator) schema(url string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.compiled[url]; ok {
		return s, nil
	}
	s, err := v.c.Compile(url)
	if err != nil {
		return nil, err
	}
	v.compiled[url] = s
	return s, nil
}

// validate checks one RunEvent: against the spec's RunEvent, and each facet
// against the schema its _schemaURL names, under the key that schema gives it.
func (v *specValidator) validate(data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	s, err := v.schema(SchemaURL)
	if err != nil {
		return err
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("RunEvent: %w", err)
	}
	var ev struct {
		Run struct {
			Facets map[string]json.RawMessage `json:"facets"`
		} `json:"run"`
		Job struct {
			Facets map[string]json.RawMessage `json:"facets"`
		} `json:"job"`
		Inputs []struct {
			Facets      map[string]json.RawMessage `json:"facets"`
			InputFacets map[string]json.RawMessage `json:"inputFacets"`
		} `json:"inputs"`
		Outputs []struct {
			Facets       map[string]json.RawMessage `json:"facets"`
			OutputFacets map[string]json.RawMessage `json:"outputFacets"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return err
	}
	groups := []map[string]json.RawMessage{ev.Run.Facets, ev.Job.Facets}
	for _, in := range ev.Inputs {
		groups = append(groups, in.Facets, in.InputFacets)
	}
	for _, out := range ev.Outputs {
		groups = append(groups, out.Facets, out.OutputFacets)
	}
	for _, g := range groups {
		for key, raw := range g {
			if err := v.validateFacet(key, raw); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *specValidator) validateFacet(key string, raw []byte) error {
	var f struct {
		SchemaURL string `json:"_schemaURL"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return fmt.Errorf("facet %s: %w", key, err)
	}
	id, _, _ := strings.Cut(f.SchemaURL, "#")
	if want, ok := v.facetKey[id]; ok && want != key {
		return fmt.Errorf("facet %s has the schema of facet %s (%s)", key, want, f.SchemaURL)
	}
	if !ok(v.facetKey, id) && !strings.HasPrefix(f.SchemaURL, "https://dbt-harvester.dev/schemas/") {
		return fmt.Errorf("facet %s: _schemaURL %q is no known facet schema", key, f.SchemaURL)
	}
	s, err := v.schema(f.SchemaURL)
	if err != nil {
		return fmt.Errorf("facet %s: schema %s: %w", key, f.SchemaURL, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("facet %s against %s: %w", key, f.SchemaURL, err)
	}
	return nil
}

func ok(m map[string]string, k string) bool {
	_, found := m[k]
	return found
}

// TestSpecValidatorRejects: the validator used above can fail.
func TestSpecValidatorRejects(t *testing.T) {
	v := newSpecValidator(t)
	evs, _ := Build(smallHarvest(), collect(smallProject()), smallOptions)
	end := evs[len(evs)-1].RunEvent
	good, err := Encode(end)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.validate(good); err != nil {
		t.Fatalf("valid event rejected: %v", err)
	}
	for name, edit := range map[string]func(string) string{
		"no programmingLanguage": func(s string) string { return strings.Replace(s, `,"programmingLanguage":"SQL"`, "", 1) },
		"bad eventType":          func(s string) string { return strings.Replace(s, `"eventType":"FAIL"`, `"eventType":"DONE"`, 1) },
		"run ID not a UUID":      func(s string) string { return strings.Replace(s, `"runId":"`, `"runId":"x`, 1) },
		"facet under wrong key":  func(s string) string { return strings.Replace(s, `"errorMessage":{`, `"error":{`, 1) },
		"custom facet field":     func(s string) string { return strings.Replace(s, `"generation":1`, `"generation":0`, 1) },
	} {
		bad := edit(string(good))
		if bad == string(good) {
			t.Fatalf("%s: edit changed nothing", name)
		}
		if err := v.validate([]byte(bad)); err == nil {
			t.Errorf("%s: validated, want an error", name)
		}
	}
}
