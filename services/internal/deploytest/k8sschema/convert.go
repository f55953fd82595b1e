package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

const refPrefix = "#/definitions/"

// gvk is one entry of a definition's x-kubernetes-group-version-kind.
type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// apiVersion is the manifest's apiVersion: "v1" for the core group, else
// "group/version".
func (g gvk) apiVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

// fileName is the name kubeconform's default schema-location template asks
// for: the kind lowercased, the group's first label and the version.
func (g gvk) fileName() string {
	suffix := ""
	if g.Group != "" {
		suffix = "-" + strings.ToLower(strings.Split(g.Group, ".")[0])
	}
	return strings.ToLower(g.Kind) + suffix + "-" + strings.ToLower(g.Version) + ".json"
}

// Convert returns, by file name, a standalone strict JSON schema for every
// kind that doc (an OpenAPI v2 document of the Kubernetes API) defines.
func Convert(doc []byte) (map[string][]byte, error) {
	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		return nil, err
	}
	if len(spec.Definitions) == 0 {
		return nil, errors.New("no definitions: not an OpenAPI v2 document")
	}
	defs := make(map[string]any, len(spec.Definitions))
	for name, d := range spec.Definitions {
		defs[name] = schema(name, d)
	}
	out := map[string][]byte{}
	for _, name := range slices.Sorted(maps.Keys(spec.Definitions)) {
		kinds, err := kindsOf(spec.Definitions[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, k := range kinds {
			if k.Kind == "" || k.Version == "" {
				continue
			}
			b, err := standalone(name, k, defs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if _, dup := out[k.fileName()]; dup && len(kinds) > 1 {
				continue // a shared type (DeleteOptions, WatchEvent) listed under every group: the first wins
			}
			out[k.fileName()] = b
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no definition names a kind (x-kubernetes-group-version-kind)")
	}
	return out, nil
}

func kindsOf(def map[string]any) ([]gvk, error) {
	raw, ok := def["x-kubernetes-group-version-kind"]
	if !ok {
		return nil, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var kinds []gvk
	if err := json.Unmarshal(b, &kinds); err != nil {
		return nil, fmt.Errorf("x-kubernetes-group-version-kind: %w", err)
	}
	return kinds, nil
}

// standalone is the schema of kind k: definition name with kind and
// apiVersion pinned, and every definition it reaches under "definitions".
func standalone(name string, k gvk, defs map[string]any) ([]byte, error) {
	root, ok := defs[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("definition %s is not an object schema", name)
	}
	root = maps.Clone(root)
	props, _ := root["properties"].(map[string]any)
	props = maps.Clone(props)
	if props == nil {
		props = map[string]any{}
	}
	props["kind"] = map[string]any{"type": "string", "enum": []any{k.Kind}}
	props["apiVersion"] = map[string]any{"type": "string", "enum": []any{k.apiVersion()}}
	root["properties"] = props
	reached := map[string]any{}
	if err := collect(root, defs, reached); err != nil {
		return nil, err
	}
	root["$schema"] = "http://json-schema.org/draft-04/schema#"
	if len(reached) > 0 {
		root["definitions"] = reached
	}
	return json.MarshalIndent(root, "", " ")
}

// collect adds to reached every definition that node refers to, directly or
// through other definitions.
func collect(node any, defs, reached map[string]any) error {
	switch n := node.(type) {
	case map[string]any:
		if ref, ok := n["$ref"].(string); ok {
			name, ok := strings.CutPrefix(ref, refPrefix)
			if !ok {
				return fmt.Errorf("$ref %q: only local definitions are supported", ref)
			}
			if _, seen := reached[name]; !seen {
				d, ok := defs[name]
				if !ok {
					return fmt.Errorf("$ref %q: no such definition", ref)
				}
				reached[name] = d
				if err := collect(d, defs, reached); err != nil {
					return err
				}
			}
		}
		for _, v := range n {
			if err := collect(v, defs, reached); err != nil {
				return err
			}
		}
	case []any:
		for _, v := range n {
			if err := collect(v, defs, reached); err != nil {
				return err
			}
		}
	}
	return nil
}

// schema rewrites one OpenAPI schema object as JSON schema (draft 4): no
// descriptions, no formats; int-or-string and quantity take a string or a
// number; and an object with listed properties takes no others (strict).
func schema(defName string, s map[string]any) any {
	switch {
	case s["format"] == "int-or-string":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	case defName == "io.k8s.apimachinery.pkg.api.resource.Quantity" || s["format"] == "quantity":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	}
	out := map[string]any{}
	for k, v := range s {
		switch k {
		case "description", "format", "x-kubernetes-group-version-kind":
		case "properties":
			props := map[string]any{}
			for name, p := range v.(map[string]any) {
				props[name] = sub(p)
			}
			out[k] = props
		case "items", "additionalProperties", "not":
			out[k] = sub(v)
		case "allOf", "anyOf", "oneOf":
			var list []any
			for _, p := range v.([]any) {
				list = append(list, sub(p))
			}
			out[k] = list
		default:
			out[k] = v
		}
	}
	if _, has := out["properties"]; has && out["additionalProperties"] == nil {
		out["additionalProperties"] = false
	}
	return out
}

// sub converts a nested schema; anything not an object (a boolean
// additionalProperties) stays as it is.
func sub(v any) any {
	if m, ok := v.(map[string]any); ok {
		return schema("", m)
	}
	return v
}
