package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// OpenLineage configures the OpenLineage run events every harvest is
// published as (stream DBT_OPENLINEAGE) and their optional HTTP transport.
type OpenLineage struct {
	// Off turns the OpenLineage events off (HARVESTER_OPENLINEAGE=off, or
	// enabled: false in the file): no DBT_OPENLINEAGE messages, no code read
	// for them.
	Off bool
	// Namespace is the job namespace (HARVESTER_OPENLINEAGE_NAMESPACE; empty:
	// the openlineage package's default).
	Namespace string
	// DatasetNamespaces maps a dbt Cloud environment ID to its warehouse's
	// dataset namespace (postgres://host:5432, ...):
	// HARVESTER_OPENLINEAGE_DATASET_NAMESPACES="ENV=NS,ENV=NS".
	DatasetNamespaces map[int64]string
	// DatasetNamespace is that of environments not listed
	// (HARVESTER_OPENLINEAGE_DATASET_NAMESPACE).
	DatasetNamespace string
	// URL turns the HTTP transport on (HARVESTER_OPENLINEAGE_URL): a
	// Marquez-compatible backend's base URL, or its lineage endpoint.
	URL string
	// APIKey is sent as a Bearer token (HARVESTER_OPENLINEAGE_API_KEY or
	// HARVESTER_OPENLINEAGE_API_KEY_FILE).
	APIKey Secret
}

// fileOpenLineage is the configuration file's openlineage section.
type fileOpenLineage struct {
	Enabled           *bool            `yaml:"enabled"`
	Namespace         string           `yaml:"namespace"`
	DatasetNamespace  string           `yaml:"dataset_namespace"`
	DatasetNamespaces map[int64]string `yaml:"dataset_namespaces"`
	URL               string           `yaml:"url"`
	APIKey            *secretRef       `yaml:"api_key"`
}

// loadOpenLineage reads the file's openlineage section (if a file is
// configured), then the environment, whose values win.
func loadOpenLineage(getenv func(string) string) (OpenLineage, error) {
	var ol OpenLineage
	var errs []error
	if path := getenv(EnvConfigFile); path != "" {
		f, err := readFileOpenLineage(path)
		if err != nil {
			return ol, err
		}
		ol.Namespace, ol.DatasetNamespace, ol.URL = f.Namespace, f.DatasetNamespace, f.URL
		ol.Off = f.Enabled != nil && !*f.Enabled
		ol.DatasetNamespaces = f.DatasetNamespaces
		if f.APIKey != nil {
			key, err := f.APIKey.read(filepath.Dir(path), getenv)
			if err != nil {
				errs = append(errs, fmt.Errorf("config file %s: openlineage.api_key: %w", path, err))
			}
			ol.APIKey = Secret(key)
		}
	}
	for _, v := range []struct {
		env string
		dst *string
	}{
		{"HARVESTER_OPENLINEAGE_NAMESPACE", &ol.Namespace},
		{"HARVESTER_OPENLINEAGE_DATASET_NAMESPACE", &ol.DatasetNamespace},
		{"HARVESTER_OPENLINEAGE_URL", &ol.URL},
	} {
		if s := strings.TrimSpace(getenv(v.env)); s != "" {
			*v.dst = s
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("HARVESTER_OPENLINEAGE"))); v {
	case "":
	case "on", "1", "true":
		ol.Off = false
	case "off", "0", "false":
		ol.Off = true
	default:
		errs = append(errs, fmt.Errorf("HARVESTER_OPENLINEAGE=%q: want on or off", v))
	}
	key, err := secretVar(getenv, "HARVESTER_OPENLINEAGE_API_KEY")
	errs = append(errs, err)
	if key != "" {
		ol.APIKey = Secret(strings.TrimSpace(key))
	}
	if list := getenv("HARVESTER_OPENLINEAGE_DATASET_NAMESPACES"); list != "" {
		m, err := ParseDatasetNamespaces(list)
		if err != nil {
			errs = append(errs, fmt.Errorf("HARVESTER_OPENLINEAGE_DATASET_NAMESPACES: %w", err))
		}
		if ol.DatasetNamespaces == nil {
			ol.DatasetNamespaces = map[int64]string{}
		}
		for k, v := range m {
			ol.DatasetNamespaces[k] = v
		}
	}
	if ol.URL != "" {
		errs = append(errs, checkOpenLineageURL(ol.URL))
	}
	if ol.Off && ol.URL != "" {
		errs = append(errs, errors.New("HARVESTER_OPENLINEAGE=off with HARVESTER_OPENLINEAGE_URL: the transport would have nothing to send"))
	}
	return ol, errors.Join(errs...)
}

// ParseDatasetNamespaces reads "ENV=NAMESPACE,ENV=NAMESPACE", ENV being a
// dbt Cloud environment ID.
func ParseDatasetNamespaces(list string) (map[int64]string, error) {
	out := map[int64]string{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		env, ns, ok := strings.Cut(item, "=")
		id, err := strconv.ParseInt(strings.TrimSpace(env), 10, 64)
		if !ok || err != nil || id <= 0 || strings.TrimSpace(ns) == "" {
			return nil, fmt.Errorf("%q: want ENVIRONMENT_ID=NAMESPACE, e.g. 70403103931988=postgres://db.example.com:5432", item)
		}
		out[id] = strings.TrimSpace(ns)
	}
	return out, nil
}

// readFileOpenLineage decodes the openlineage section of the YAML file.
func readFileOpenLineage(path string) (fileOpenLineage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return fileOpenLineage{}, fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var doc fileDoc
	if err := dec.Decode(&doc); err != nil {
		return fileOpenLineage{}, fmt.Errorf("config file %s: %w", path, err)
	}
	return doc.OpenLineage, nil
}

// checkOpenLineageURL accepts http(s) URLs with a host and no credentials
// (the API key has its own variable); the error never echoes the URL's
// user information.
func checkOpenLineageURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return errors.New("HARVESTER_OPENLINEAGE_URL: want http(s)://host[:port][/path], e.g. http://marquez:5000")
	case u.User != nil:
		return errors.New("HARVESTER_OPENLINEAGE_URL: put no credentials in the URL; use HARVESTER_OPENLINEAGE_API_KEY")
	}
	return nil
}
