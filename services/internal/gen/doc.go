// Package gen generates the artifacts of a realistic dbt project at any scale
// (10 to 50,000 models): manifest.json (schema v12) and, on request,
// catalog.json (v1), run_results.json (v6) and sources.json (v3).
//
// Nothing is copied from real projects: every name, column, description and
// line of SQL is produced by code from Options.Seed, so the same Options
// always give byte-identical files. The project looks like jaffle_shop grown
// large: source groups loaded by Fivetran, Stitch or Airbyte with freshness
// criteria; seeds; staging views, one per source table or seed; intermediate
// and mart models forming a DAG with fan-in 1 to 4; snapshots; generic and
// singular tests; exposures; groups; and, from 20 models on, semantic models,
// metrics and a saved query, plus unit tests and an analysis.
//
// # Memory
//
// Write keeps only the project's skeleton in memory (names, lineage, columns
// and tests: a few hundred bytes per node). Descriptions, SQL and every JSON
// object are produced one node at a time and streamed through a buffered
// writer, so 50,000 models fit in modest memory even though the manifest is
// several hundred megabytes.
//
// # Adapters
//
// Options.Adapter selects database and schema naming, relation quoting and
// data types: postgres, redshift, snowflake, bigquery, duckdb and databricks.
// With snowflake, the catalog reports database, schema, table and column names
// in upper case while the manifest keeps dbt's lower-case identifiers, as a
// real Snowflake project does.
package gen
