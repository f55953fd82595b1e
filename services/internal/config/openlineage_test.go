package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadOpenLineage(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "ol-key")
	if err := os.WriteFile(keyFile, []byte("file-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "harvester.yaml")
	if err := os.WriteFile(file, []byte(`openlineage:
  namespace: analytics
  dataset_namespace: postgres://default-db:5432
  dataset_namespaces:
    70403103931988: postgres://prod-db:5432
    70403103931989: snowflake://org-acct
  url: http://marquez:5000
  api_key: {file: ol-key}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{"off by default", nil, "", func(t *testing.T, c Config) {
			if c.OpenLineage.URL != "" || c.Topology.OpenLineageHTTP || c.OpenLineage.Namespace != "" {
				t.Errorf("OpenLineage = %+v, HTTP %v; want the zero value", c.OpenLineage, c.Topology.OpenLineageHTTP)
			}
		}},
		{"environment", map[string]string{
			"HARVESTER_OPENLINEAGE_URL": "https://lineage.example.com/api/v1/lineage", "HARVESTER_OPENLINEAGE_API_KEY": "k1",
			"HARVESTER_OPENLINEAGE_NAMESPACE": "dbt-prod", "HARVESTER_OPENLINEAGE_DATASET_NAMESPACES": "1=postgres://a:5432, 2=bigquery",
			"HARVESTER_OPENLINEAGE_MAX_AGE": "7d",
		}, "", func(t *testing.T, c Config) {
			ol := c.OpenLineage
			if ol.URL != "https://lineage.example.com/api/v1/lineage" || ol.APIKey.Reveal() != "k1" || ol.Namespace != "dbt-prod" ||
				ol.DatasetNamespaces[1] != "postgres://a:5432" || ol.DatasetNamespaces[2] != "bigquery" || !c.Topology.OpenLineageHTTP {
				t.Errorf("OpenLineage = %+v (key %q)", ol, ol.APIKey.Reveal())
			}
			if c.Topology.OpenLineageMaxAge != 7*24*time.Hour {
				t.Errorf("OpenLineageMaxAge = %v, want 168h", c.Topology.OpenLineageMaxAge)
			}
		}},
		{"file, environment wins", map[string]string{
			EnvConfigFile: file, "HARVESTER_OPENLINEAGE_DATASET_NAMESPACES": "70403103931989=snowflake://org-other",
		}, "", func(t *testing.T, c Config) {
			ol := c.OpenLineage
			if ol.Namespace != "analytics" || ol.DatasetNamespace != "postgres://default-db:5432" || ol.URL != "http://marquez:5000" ||
				ol.APIKey.Reveal() != "file-key" || ol.DatasetNamespaces[70403103931988] != "postgres://prod-db:5432" ||
				ol.DatasetNamespaces[70403103931989] != "snowflake://org-other" {
				t.Errorf("OpenLineage = %+v (key %q)", ol, ol.APIKey.Reveal())
			}
		}},
		{"off", map[string]string{"HARVESTER_OPENLINEAGE": "off"}, "", func(t *testing.T, c Config) {
			if !c.OpenLineage.Off {
				t.Error("Off = false, want true")
			}
		}},
		{"off with a url", map[string]string{"HARVESTER_OPENLINEAGE": "off", "HARVESTER_OPENLINEAGE_URL": "http://m:5000"}, "nothing to send", nil},
		{"bad switch", map[string]string{"HARVESTER_OPENLINEAGE": "maybe"}, "want on or off", nil},
		{"bad namespaces", map[string]string{"HARVESTER_OPENLINEAGE_DATASET_NAMESPACES": "prod=postgres://a"}, "ENVIRONMENT_ID=NAMESPACE", nil},
		{"bad url", map[string]string{"HARVESTER_OPENLINEAGE_URL": "marquez:5000"}, "want http(s)://host", nil},
		{"credentials in url", map[string]string{"HARVESTER_OPENLINEAGE_URL": "https://user:hunter2@marquez"}, "no credentials in the URL", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q shows the URL's password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
			if s := fmt.Sprintf("%v %+v %#v", c.OpenLineage, c.OpenLineage, c.OpenLineage); strings.Contains(s, "k1") || strings.Contains(s, "file-key") {
				t.Errorf("the API key prints: %s", s)
			}
		})
	}
}

func TestLoadOpenLineageUnknownKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "h.yaml")
	if err := os.WriteFile(file, []byte("openlineage:\n  urll: http://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(env(map[string]string{EnvConfigFile: file})); err == nil || !strings.Contains(err.Error(), "urll") {
		t.Errorf("Load with a misspelt key = %v, want an error naming it", err)
	}
}

func FuzzParseDatasetNamespaces(f *testing.F) {
	f.Add("1=postgres://a:5432, 2=bigquery")
	f.Add("=,,x=y")
	f.Fuzz(func(t *testing.T, list string) {
		m, err := ParseDatasetNamespaces(list)
		if err != nil {
			return
		}
		for id, ns := range m {
			if id <= 0 || ns == "" || strings.TrimSpace(ns) != ns {
				t.Fatalf("ParseDatasetNamespaces(%q) gave %d=%q", list, id, ns)
			}
		}
	})
}
