// Package artifact reads dbt's JSON artifacts (manifest.json, run_results.json,
// catalog.json, sources.json, semantic_manifest.json) as streams.
//
// # Streaming
//
// Each reader walks the document with a jsontext.Decoder and decodes one
// entry at a time (one node, one result, one catalog table) into a small
// typed struct handed to a callback. The whole document is never held in
// memory nor decoded into map[string]any; sections the harvest does not use
// (macros, docs, disabled, selectors, ...) are skipped without decoding.
//
// # Versions
//
// Readers route on metadata.dbt_schema_version: manifest v1–v12 and v20 (the
// Fusion engine's, read as v12), run_results v1–v6, catalog v1, sources
// v1–v3. The entry structs are the union of the fields of every version, so
// one struct reads them all; what differs between versions is resolved where
// it matters (raw_sql/compiled_sql before manifest v7, raw_code/compiled_code
// after). An unknown version is read as the closest known one with a
// warning; an artifact of another kind is an error.
//
// # Tolerance and errors
//
// Unknown fields are ignored, enum values pass through as strings, and
// fields whose JSON type changed across versions are read by lenient types
// ([Text], [TextList], [Number], [Time], [Object]). An entry holding a field
// of an unexpected type is kept with what could be read and reported in
// [Info.Warnings]. A document that is not JSON or not an object at the top is
// malformed: the error is marked retry.Permanent and names the artifact and
// the byte offset. Errors returned by callbacks pass through unchanged.
package artifact
