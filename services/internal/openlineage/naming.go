package openlineage

import (
	"net/url"
	"strings"
)

// adapterScheme is the naming conventions' namespace scheme of a dbt adapter
// (postgres, snowflake, bigquery, ...); an adapter the conventions do not
// list keeps its own name.
func adapterScheme(adapter string) string {
	switch a := strings.ToLower(adapter); a {
	case "":
		return "warehouse"
	case "sqlserver":
		return "mssql"
	case "synapse":
		return "sqlserver" // Azure Synapse, as the conventions write it
	case "fabric":
		return "fabric-warehouse"
	case "athena":
		return "awsathena"
	default:
		return a
	}
}

// twoPart reports whether the conventions name an adapter's tables
// {schema}.{table} (dbt's schema being the database of MySQL, Hive,
// Teradata; Synapse names no database) rather than {database}.{schema}.{table}.
func twoPart(adapter string) bool {
	switch strings.ToLower(adapter) {
	case "mysql", "spark", "hive", "teradata", "synapse", "clickhouse", "oceanbase":
		return true
	}
	return false
}

// datasetName is a relation's dataset name under the naming conventions:
// {database}.{schema}.{table} for most warehouses (BigQuery's project,
// dataset and table; Trino's and Unity Catalog's catalog, schema and table),
// {schema}.{table} where dbt's schema is the database. Empty parts are left
// out; a relation without an identifier has no name.
func datasetName(adapter, database, schema, identifier string) string {
	if identifier == "" {
		return ""
	}
	parts := []string{database, schema, identifier}
	if twoPart(adapter) {
		parts = parts[1:]
	}
	out := parts[:0:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// dataSource is the dataSource facet of a dataset namespace: its uri only
// when the namespace is a URI (bigquery is not).
func dataSource(ns string) *DataSourceFacet {
	f := &DataSourceFacet{Base: base(dataSourceFacetURL), Name: ns}
	if u, err := url.Parse(ns); err == nil && u.Scheme != "" && u.Host != "" {
		f.URI = ns
	}
	return f
}
