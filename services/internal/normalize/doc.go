// Package normalize turns a dbt run's artifacts into harvested assets
// (events.Asset, as the JSON the asset events carry): one per node, source,
// exposure, metric, semantic model, saved query, unit test and function of
// the manifest, joined with its catalog entry, its result in
// run_results.json and, for sources, its freshness in sources.json.
//
// # Two passes over the manifest
//
// The manifest is streamed twice (see artifact.Stream) and never held:
//
//  1. The first pass scans it, numbers every unique_id, notes where each
//     entry is (offset and length), and keeps only what an asset needs from
//     other entries: depends_on, each test's target node and column,
//     child_map, groups and the metadata.
//  2. catalog.json, run_results.json and sources.json are read, at the same
//     time as the first pass on another goroutine, into compact indexes
//     (interned strings, no maps of any); their nodes are numbered with the
//     first pass's numbering, a batch of keys at a time under one lock.
//  3. The second pass reads the manifest again without scanning it: it
//     copies each entry's bytes from where the first pass found them (a
//     manifest that changed in between is a permanent error). One builder
//     goroutine per CPU writes the assets' JSON straight from the entries'
//     bytes, with downstream lineage, tests, test outcomes and the indexed
//     facts; emit is called from the caller's goroutine, in manifest order.
//
// Input.ReopenManifest supplies the second reading (the object store or the
// file); without it the manifest is copied in memory between the passes.
// Meta, kwargs, constraints and other free-form objects are copied as
// written (compacted), so nothing in them changes on the way.
//
// # Every entry is an asset
//
// Nothing is filtered: every entry of the resource sections is emitted,
// operations (hooks) and sql_operations included, so the count of assets
// equals the count of entries. Columns merge the YAML and the catalog by
// name, case-insensitively: the catalog's name, type, index and comment, the
// YAML's description, tags, meta, constraints and declared type (used when
// the catalog has none). A column is named by its key in the columns
// object, on either side, as dbt writes it (a name member that disagrees,
// as key "col_2" with name "col_1", is not believed; it is used only when
// the key is empty). Catalog columns whose keys are equal case-insensitively
// ("ID" and "id", or a repeated key) are one column, the first by index,
// with a warning, so no asset has two columns of the same name. What is not understood is reported in
// Summary.Warnings, never dropped silently.
//
// Normalize is a pure function of its inputs: no I/O besides reading them,
// no clock, no global state.
package normalize
