package normalize

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/events"
)

// columnsOf normalizes one model with the given YAML columns and catalog
// columns (JSON object members) and returns its columns as
// name:in_catalog/in_manifest:data_type:index, and the warnings.
func columnsOf(t *testing.T, yaml, catalog string) ([]string, []string) {
	t.Helper()
	manifest := `{"nodes": {"model.p.m": {"resource_type": "model", "name": "m", "package_name": "p", "columns": {` + yaml + `}}}}`
	cat := `{"nodes": {"model.p.m": {"metadata": {"type": "BASE TABLE"}, "columns": {` + catalog + `}}}}`
	var cols []string
	sum, err := Normalize(t.Context(), Input{Manifest: strings.NewReader(manifest), Catalog: strings.NewReader(cat)}, Options{},
		func(a events.Asset) error {
			for _, c := range a.Columns {
				cols = append(cols, fmt.Sprintf("%s:%s:%s:%d", c.Name, flags(c), c.DataType, c.Index))
			}
			return nil
		})
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return cols, sum.Warnings
}

func flags(c events.Column) string {
	out := ""
	if c.InCatalog {
		out += "C"
	}
	if c.InManifest {
		out += "M"
	}
	return out
}

// TestColumnKeyAndNameDisagree: a column (catalog or YAML) is named by its
// key, as dbt writes it; its name member only when the key is empty.
// Catalog columns whose keys are equal case-insensitively are one column
// (the first by index; a later one fills a missing type or comment); the
// YAML merges into them by name, case-insensitively. No asset has two
// columns of the same name.
func TestColumnKeyAndNameDisagree(t *testing.T) {
	tests := []struct {
		name, yaml, catalog string
		want                []string
		warn                bool // a warning about merged catalog columns
	}{
		{"key and name agree", ``, `"id": {"name": "id", "type": "int", "index": 1}`, []string{"id:C:int:1"}, false},
		{"key ID, name id", ``, `"ID": {"name": "id", "type": "int", "index": 1}`, []string{"ID:C:int:1"}, false},
		{"key ID name id, and key id", ``, `"ID": {"name": "id", "type": "int", "index": 1}, "id": {"name": "id", "type": "text", "index": 2}`,
			[]string{"ID:C:int:1"}, true},
		{"key col_2 name col_1, and key col_1", ``, `"col_1": {"type": "int", "index": 1}, "col_2": {"name": "col_1", "type": "text", "index": 2}`,
			[]string{"col_1:C:int:1", "col_2:C:text:2"}, false},
		{"key a name b, and key b", ``, `"a": {"name": "b", "type": "int", "index": 2}, "b": {"type": "text", "index": 1}`,
			[]string{"b:C:text:1", "a:C:int:2"}, false},
		{"keys that differ in case, the later fills the type", ``, `"X": {"name": "x", "index": 1}, "x": {"type": "text", "index": 2}`,
			[]string{"X:C:text:1"}, true},
		{"the same key twice", ``, `"id": {"type": "int", "index": 1}, "id": {"type": "text", "index": 2}`, []string{"id:C:int:1"}, true},
		{"Kelvin sign folds to k", ``, `"k": {"type": "int", "index": 1}, "\u212a": {"type": "text", "index": 2}`, []string{"k:C:int:1"}, true},
		{"empty key: the name", ``, `"": {"name": "z", "type": "int", "index": 1}`, []string{"z:C:int:1"}, false},
		{"key a name b, YAML a", `"a": {"name": "a", "description": "d"}`, `"a": {"name": "b", "type": "int", "index": 1}`,
			[]string{"a:CM:int:1"}, false},
		{"key a name b, YAML b", `"b": {"description": "d"}`, `"a": {"name": "b", "type": "int", "index": 1}`,
			[]string{"a:C:int:1", "b:M::0"}, false},
		{"key X name x, YAML X", `"X": {"name": "X"}`, `"X": {"name": "x", "type": "int", "index": 1}`, []string{"X:CM:int:1"}, false},
		{"YAML key a name b, and YAML b", `"a": {"name": "b"}, "b": {"description": "d"}`, ``, []string{"a:M::0", "b:M::0"}, false},
		{"YAML key id name ID, catalog id", `"id": {"name": "ID"}`, `"id": {"type": "int", "index": 1}`, []string{"id:CM:int:1"}, false},
		{"YAML empty key: the name", `"": {"name": "q"}`, ``, []string{"q:M::0"}, false},
		{"YAML ID and id, catalog ID and id", `"ID": {}, "id": {"data_type": "x"}`,
			`"ID": {"name": "ID", "type": "int", "index": 1}, "id": {"name": "id", "type": "int", "index": 2}`, []string{"ID:CM:int:1"}, true},
		{"many columns, one repeated", ``, manyColumns(100) + `, "C7": {"type": "text", "index": 101}`, manyWant(100), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings := columnsOf(t, tt.yaml, tt.catalog)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("columns = %q, want %q", got, tt.want)
			}
			warned := strings.Contains(strings.Join(warnings, "\n"), "same name")
			if warned != tt.warn {
				t.Errorf("warnings = %q; want a warning about columns of the same name: %t", warnings, tt.warn)
			}
			seen := map[string]bool{}
			for _, c := range got {
				name := strings.ToLower(strings.SplitN(c, ":", 2)[0])
				if seen[name] {
					t.Errorf("columns = %q: %q twice", got, name)
				}
				seen[name] = true
			}
		})
	}
}

// manyColumns is n catalog columns c0..c{n-1}, wide enough for the map path.
func manyColumns(n int) string {
	parts := make([]string, n)
	for i := range n {
		parts[i] = fmt.Sprintf(`"c%d": {"type": "int", "index": %d}`, i, i+1)
	}
	return strings.Join(parts, ", ")
}

func manyWant(n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("c%d:C:int:%d", i, i+1)
	}
	return out
}
