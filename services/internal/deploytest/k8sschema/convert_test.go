package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// swagger is a small OpenAPI v2 document shaped like Kubernetes': kinds in
// three groups, a chain of references, int-or-string, quantity, a map, and
// a type listed under several groups (DeleteOptions).
const swagger = `{
 "swagger": "2.0",
 "definitions": {
  "io.k8s.api.apps.v1.Deployment": {
   "description": "Deployment enables declarative updates.",
   "type": "object",
   "required": ["spec"],
   "properties": {
    "apiVersion": {"type": "string", "description": "APIVersion"},
    "kind": {"type": "string"},
    "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "description": "meta"},
    "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"}
   },
   "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]
  },
  "io.k8s.api.apps.v1.DeploymentSpec": {
   "type": "object",
   "required": ["selector"],
   "properties": {
    "replicas": {"type": "integer", "format": "int32"},
    "selector": {"type": "object", "additionalProperties": {"type": "string"}},
    "maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
    "memory": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
    "ports": {"type": "array", "items": {"type": "object", "properties": {"containerPort": {"type": "integer"}}}}
   }
  },
  "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
   "type": "object",
   "properties": {"name": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}}}
  },
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string", "description": "Quantity"},
  "io.k8s.api.core.v1.Service": {
   "type": "object",
   "properties": {"kind": {"type": "string"}, "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}},
   "x-kubernetes-group-version-kind": [{"group": "", "kind": "Service", "version": "v1"}]
  },
  "io.k8s.api.networking.v1.Ingress": {
   "type": "object",
   "properties": {"kind": {"type": "string"}},
   "x-kubernetes-group-version-kind": [{"group": "networking.k8s.io", "kind": "Ingress", "version": "v1"}]
  },
  "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": {
   "type": "object",
   "properties": {"kind": {"type": "string"}},
   "x-kubernetes-group-version-kind": [{"group": "", "kind": "DeleteOptions", "version": "v1"}, {"group": "apps", "kind": "DeleteOptions", "version": "v1"}]
  }
 }
}`

func convertTest(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := Convert([]byte(swagger))
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	out := map[string]map[string]any{}
	for name, b := range files {
		var s map[string]any
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s is not JSON: %v", name, err)
		}
		out[name] = s
	}
	return out
}

func TestConvertFileNames(t *testing.T) {
	got := slices.Sorted(maps.Keys(convertTest(t)))
	// kubeconform's template: kind, the group's first label, the version.
	want := []string{"deleteoptions-apps-v1.json", "deleteoptions-v1.json", "deployment-apps-v1.json", "ingress-networking-v1.json", "service-v1.json"}
	if !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
}

// at walks a schema by keys.
func at(t *testing.T, s any, path ...string) any {
	t.Helper()
	for _, k := range path {
		m, ok := s.(map[string]any)
		if !ok {
			t.Fatalf("at %v: %q is not under an object", path, k)
		}
		s = m[k]
	}
	return s
}

func TestConvertDeployment(t *testing.T) {
	d := convertTest(t)["deployment-apps-v1.json"]
	defs := "definitions"
	spec := "io.k8s.api.apps.v1.DeploymentSpec"
	tests := []struct {
		name string
		path []string
		want any
	}{
		{"kind pinned", []string{"properties", "kind", "enum"}, []any{"Deployment"}},
		{"apiVersion pinned", []string{"properties", "apiVersion", "enum"}, []any{"apps/v1"}},
		{"strict at the top", []string{"additionalProperties"}, false},
		{"required kept", []string{"required"}, []any{"spec"}},
		{"reference kept local", []string{"properties", "spec", "$ref"}, "#/definitions/" + spec},
		{"strict in a definition", []string{defs, spec, "additionalProperties"}, false},
		{"strict in items", []string{defs, spec, "properties", "ports", "items", "additionalProperties"}, false},
		{"a map stays a map", []string{defs, spec, "properties", "selector", "additionalProperties"}, map[string]any{"type": "string"}},
		{"required of a definition kept", []string{defs, spec, "required"}, []any{"selector"}},
		{"format dropped", []string{defs, spec, "properties", "replicas"}, map[string]any{"type": "integer"}},
		{"description dropped", []string{"description"}, nil},
		{"int-or-string takes either", []string{defs, "io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
			map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}},
		{"quantity takes a number too", []string{defs, "io.k8s.apimachinery.pkg.api.resource.Quantity"},
			map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}},
		{"references of references included", []string{defs, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "additionalProperties"}, false},
		{"draft 4", []string{"$schema"}, "http://json-schema.org/draft-04/schema#"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := at(t, d, tt.path...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%v = %#v, want %#v", tt.path, got, tt.want)
			}
		})
	}
	if got := slices.Sorted(maps.Keys(d["definitions"].(map[string]any))); len(got) != 4 {
		t.Errorf("definitions = %v, want the 4 the Deployment reaches (spec, meta, int-or-string, quantity)", got)
	}
}

func TestConvertCoreGroup(t *testing.T) {
	s := convertTest(t)["service-v1.json"]
	if got := at(t, s, "properties", "apiVersion", "enum"); !reflect.DeepEqual(got, []any{"v1"}) {
		t.Errorf("core group apiVersion enum = %v, want [v1]", got)
	}
	if got := at(t, s, "definitions"); len(got.(map[string]any)) != 1 {
		t.Errorf("definitions = %v, want ObjectMeta only", got)
	}
}

func TestConvertRejects(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"not JSON", `swagger: 2.0`, "invalid character"},
		{"no definitions", `{"swagger": "2.0"}`, "no definitions"},
		{"no kinds", `{"definitions": {"a": {"type": "string"}}}`, "no definition names a kind"},
		{"dangling reference", `{"definitions": {"a": {"type": "object", "properties": {"b": {"$ref": "#/definitions/b"}},
			"x-kubernetes-group-version-kind": [{"group": "", "kind": "A", "version": "v1"}]}}}`, "no such definition"},
		{"remote reference", `{"definitions": {"a": {"type": "object", "properties": {"b": {"$ref": "other.json#/b"}},
			"x-kubernetes-group-version-kind": [{"group": "", "kind": "A", "version": "v1"}]}}}`, "only local definitions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Convert = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestRunWritesFiles(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "swagger.json")
	if err := os.WriteFile(in, []byte(swagger), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "v1.37.2-standalone-strict")
	if err := run(in, out); err != nil {
		t.Fatalf("run: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(out, "ingress-networking-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Error("ingress-networking-v1.json is not valid JSON")
	}
}

// TestConvertedSchemaValidates compiles the Deployment's schema with a JSON
// schema validator (draft 4, as kubeconform does) and checks what it takes
// and what it rejects.
func TestConvertedSchemaValidates(t *testing.T) {
	files, err := Convert([]byte(swagger))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(files["deployment-apps-v1.json"])))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource("deployment-apps-v1.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("deployment-apps-v1.json")
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	const ok = `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "labels": {"a": "b"}},
		"spec": {"replicas": 2, "selector": {"a": "b"}, "maxSurge": "25%", "memory": 1, "ports": [{"containerPort": 8080}]}}`
	tests := []struct {
		name, doc string
		valid     bool
	}{
		{"valid", ok, true},
		{"int-or-string as an integer", strings.Replace(ok, `"25%"`, `1`, 1), true},
		{"quantity as a string", strings.Replace(ok, `"memory": 1`, `"memory": "64Mi"`, 1), true},
		{"unknown field", strings.Replace(ok, `"replicas"`, `"replica"`, 1), false},
		{"unknown field in a referenced definition", strings.Replace(ok, `"name": "x"`, `"nam": "x"`, 1), false},
		{"unknown field in array items", strings.Replace(ok, `"containerPort"`, `"containerport"`, 1), false},
		{"wrong type", strings.Replace(ok, `"replicas": 2`, `"replicas": "two"`, 1), false},
		{"int-or-string as an object", strings.Replace(ok, `"25%"`, `{}`, 1), false},
		{"required missing", strings.Replace(ok, `"selector": {"a": "b"}, `, ``, 1), false},
		{"another kind", strings.Replace(ok, `"Deployment"`, `"StatefulSet"`, 1), false},
		{"another apiVersion", strings.Replace(ok, `"apps/v1"`, `"apps/v1beta1"`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			err = sch.Validate(v)
			if (err == nil) != tt.valid {
				t.Errorf("Validate = %v, want valid %v", err, tt.valid)
			}
		})
	}
}
