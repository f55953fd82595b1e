// The k8sschema command turns Kubernetes' OpenAPI v2 document (the
// api/openapi-spec/swagger.json that the k8s.io/kubernetes module ships) into
// one standalone JSON schema per kind, named the way kubeconform's
// -schema-location template expects ({kind}-{group}-{version}.json, e.g.
// deployment-apps-v1.json, service-v1.json), so that `make lint` validates
// deploy/k8s with kubeconform without reaching the internet.
//
// Usage:
//
//	k8sschema -swagger .../api/openapi-spec/swagger.json -out DIR
//
// Each schema carries the definitions it refers to (under "definitions"),
// has kind and apiVersion pinned to its own, and forbids properties that are
// not in the API (strict, as kubeconform's -strict wants: a misspelt field is
// an error, not ignored). Kubernetes' int-or-string and quantity types accept
// a string or a number, as the API server does.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	swagger := flag.String("swagger", "", "Kubernetes' OpenAPI v2 document (api/openapi-spec/swagger.json)")
	out := flag.String("out", "", "directory to write the schemas to (created)")
	flag.Parse()
	if *swagger == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*swagger, *out); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschema:", err)
		os.Exit(1)
	}
}

func run(swagger, out string) error {
	doc, err := os.ReadFile(swagger)
	if err != nil {
		return err
	}
	schemas, err := Convert(doc)
	if err != nil {
		return fmt.Errorf("convert %s: %w", swagger, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for name, b := range schemas {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("k8sschema: %d schemas in %s\n", len(schemas), out)
	return nil
}
