// Package artifact reads dbt's JSON artifacts (manifest.json,
// run_results.json, catalog.json, sources.json, semantic_manifest.json) as
// streams, with one reader: [Stream].
//
// # Streaming
//
// A [Stream] walks an artifact's top-level object ([Stream.Walk]) and hands
// a section's entries out one at a time as their raw JSON bytes
// ([Stream.MembersObject] with [Stream.Object], [Stream.ElementsFunc],
// [Stream.Members], [Stream.Value]); what is not wanted (macros, docs,
// disabled, ...) is skipped by a scanner that tracks only strings and
// brackets. Only one entry is held at a time; the buffer grows to the
// largest entry. The raw readers ([Member], [EachMember], [EachElement],
// [RawText], [RawTextList], [RawNumber], [RawBool], [AppendCompact]) read
// the bytes handed out without reflection and without decoding into
// map[string]any. The normalize package builds assets with them; Sniff and
// ReadSemanticManifest are built on the same Stream.
//
// # Versions
//
// [ParseMetadata] routes an artifact on metadata.dbt_schema_version:
// manifest v1–v12 and v20 (the Fusion engine's, read as v12), run_results
// v1–v6, catalog v1, sources v1–v3. What differs between versions is
// resolved by the caller where it matters (raw_sql/compiled_sql before
// manifest v7, raw_code/compiled_code after). An unknown version is read as
// the closest known one with [Version.Warning]; an artifact of another kind
// is an error.
//
// # Tolerance and errors
//
// dbt changed the JSON type of several fields across versions; the raw
// readers keep what was written (a number where a string was expected is
// its JSON text, a single tag is a list of one). A document that is not a
// JSON object at the top, or whose strings and brackets do not close, is
// malformed: the Stream's error is marked retry.Permanent and names the
// artifact and the byte offset. The raw readers report malformed values as
// plain errors, for the caller to classify. Errors returned by callbacks
// pass through unchanged.
//
// The tests keep the typed readers this package had before Stream (a
// jsontext decoder into structs of lenient types) as an oracle: on the real
// corpus and under fuzzing, what Stream and the raw readers read must equal
// what they read.
package artifact
