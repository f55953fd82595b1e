// Package normalize turns a dbt run's artifacts into harvested assets
// (events.Asset): one per node, source, exposure, metric, semantic model,
// saved query, unit test and function of the manifest, joined with its
// catalog entry, its result in run_results.json and, for sources, its
// freshness in sources.json.
//
// # What is read, and when
//
// catalog.json, run_results.json and sources.json are read first into
// compact indexes keyed by unique_id; manifest.json is then streamed one
// entry at a time (see package artifact). Each entry becomes an asset held
// without its code (unless Options.IncludeCode); once the manifest is read,
// lineage (downstream from child_map, else derived from every depends_on),
// test attachments and group owners are resolved and the assets are emitted
// in a deterministic order: by resource type (sources, seeds, models,
// snapshots, analyses, tests, unit tests, exposures, metrics, semantic
// models, saved queries, then any other type), then by unique_id.
//
// # Every entry is an asset
//
// Nothing is filtered: every entry of the resource sections is emitted,
// operations (hooks) and sql_operations included, so the count of assets
// equals the count of entries. Columns merge the YAML and the catalog by
// name, case-insensitively: the catalog's name, type, index and comment, the
// YAML's description, tags, meta and declared type (used when the catalog has
// none). What is not understood is reported in Summary.Warnings, never
// dropped silently.
//
// Normalize is a pure function of its inputs: no I/O besides reading them,
// no clock, no global state.
package normalize
