package artifact

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dbt-harvester/harvester/services/internal/corpus"
	"github.com/dbt-harvester/harvester/services/internal/retry"
)

// indexRow is one line of the corpus INDEX.tsv.
type indexRow struct {
	path, kind, version string
}

func corpusIndex(t *testing.T) (string, []indexRow) {
	t.Helper()
	dir := corpus.Artifacts(t)
	f, err := os.Open(filepath.Join(dir, "INDEX.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []indexRow
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		cols := strings.Split(sc.Text(), "\t")
		if first || len(cols) < 7 {
			continue
		}
		rows = append(rows, indexRow{path: cols[0], kind: cols[5], version: cols[6]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return dir, rows
}

// read is what a reader learned from an artifact: its metadata, version,
// and one line per entry of the sections the harvest reads, holding the
// fields the normalizer uses.
type read struct {
	meta     Metadata
	version  Version
	entries  []string
	warnings int // the oracle's
}

func num(n Number) string {
	if !n.Set {
		return "-"
	}
	return fmt.Sprint(n.Value)
}

func tm(s string) string {
	t, ok := ParseTime(s)
	if !ok {
		return "-"
	}
	return t.String()
}

// streamRead reads an artifact the way production does: a Stream walks it,
// ParseMetadata reads the metadata, each entry is walked once by Object and
// its values are read by the raw readers.
func streamRead(r io.Reader, kind Kind) (read, error) {
	var out read
	s := NewStream(r, kind)
	sawMeta := false
	err := s.Walk(func(name string) error {
		if name == "metadata" {
			raw, err := s.Value()
			if err != nil {
				return err
			}
			sawMeta = true
			if out.meta, out.version, err = ParseMetadata(kind, raw); err != nil {
				return retry.Permanent(err) // as the normalizer classifies it
			}
			return nil
		}
		switch {
		case kind == KindManifest && slices.Contains(resourceSections, name),
			kind == KindCatalog && (name == "nodes" || name == "sources"):
			_, err := s.MembersObject(func(key []byte) error {
				k := string(key)
				var line string
				var err error
				if kind == KindManifest {
					line, err = streamResource(s, name, k)
				} else {
					line, err = streamTable(s, name, k)
				}
				out.entries = append(out.entries, line)
				return err
			})
			return err
		case (kind == KindRunResults || kind == KindSources) && name == "results":
			_, err := s.ElementsFunc(func() error {
				line, err := streamResult(s, kind)
				out.entries = append(out.entries, line)
				return err
			})
			return permanent(err)
		}
		return nil
	})
	if err == nil && !sawMeta {
		out.version = MissingVersion(kind)
	}
	return out, err
}

// resourceSections are the manifest sections the normalizer harvests.
var resourceSections = []string{"nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests", "functions"}

// permanent classifies an error of the raw readers as the normalizer does.
func permanent(err error) error {
	if err == nil {
		return nil
	}
	return retry.Permanent(err)
}

func streamResource(s *Stream, section, key string) (string, error) {
	var id, typ, name, mat string
	var tags, deps, cols []string
	_, err := s.Object(func(k, v []byte) error {
		switch string(k) {
		case "unique_id":
			id = RawText(v)
		case "resource_type":
			typ = RawText(v)
		case "name":
			name = RawText(v)
		case "tags":
			tags = RawTextList(v)
		case "depends_on":
			deps = RawTextList(Member(v, "nodes"))
		case "config":
			mat = RawText(Member(v, "materialized"))
		case "columns":
			cols = nil
			_, err := EachMember(v, func(ck, cv []byte) error {
				n := RawText(Member(cv, "name"))
				if n == "" {
					n = string(ck)
				}
				cols = append(cols, n+":"+RawText(Member(cv, "data_type")))
				return nil
			})
			return permanent(err)
		}
		return nil
	})
	return fmt.Sprintf("%s %s id=%s type=%s name=%s mat=%s tags=%q deps=%q cols=%q", section, key, id, typ, name, mat, tags, deps, cols), err
}

func streamTable(s *Stream, section, key string) (string, error) {
	var id, typ string
	var cols []string
	_, err := s.Object(func(k, v []byte) error {
		switch string(k) {
		case "unique_id":
			id = RawText(v)
		case "metadata":
			typ = RawText(Member(v, "type"))
		case "columns":
			cols = nil
			_, err := EachMember(v, func(ck, cv []byte) error {
				n := RawText(Member(cv, "name"))
				if n == "" {
					n = string(ck)
				}
				cols = append(cols, n+":"+RawText(Member(cv, "type"))+":"+num(RawNumber(Member(cv, "index"))))
				return nil
			})
			return permanent(err)
		}
		return nil
	})
	return fmt.Sprintf("%s %s id=%s type=%s cols=%q", section, key, id, typ, cols), err
}

func streamResult(s *Stream, kind Kind) (string, error) {
	var id, status, msg, errText string
	maxLoaded := "-"
	var exec, failures, age Number
	var timing []string
	_, err := s.Object(func(k, v []byte) error {
		switch string(k) {
		case "unique_id":
			id = RawText(v)
		case "status":
			status = RawText(v)
		case "message":
			msg = RawText(v)
		case "error":
			errText = RawText(v)
		case "execution_time":
			exec = RawNumber(v)
		case "failures":
			failures = RawNumber(v)
		case "max_loaded_at_time_ago_in_s":
			age = RawNumber(v)
		case "max_loaded_at":
			maxLoaded = tm(RawText(v))
		case "timing":
			timing = nil
			_, err := EachElement(v, func(e []byte) error {
				timing = append(timing, RawText(Member(e, "name"))+"@"+tm(RawText(Member(e, "started_at"))))
				return nil
			})
			return permanent(err)
		}
		return nil
	})
	if kind == KindSources {
		return fmt.Sprintf("%s %s loaded=%s age=%s err=%q exec=%s timing=%q", id, status, maxLoaded, num(age), errText, num(exec), timing), err
	}
	return fmt.Sprintf("%s %s exec=%s failures=%s msg=%q timing=%q", id, status, num(exec), num(failures), msg, timing), err
}

// oracleRead reads an artifact with the typed readers into the same lines.
func oracleRead(ctx context.Context, r io.Reader, kind Kind) (read, error) {
	var out read
	add := func(format string, args ...any) { out.entries = append(out.entries, fmt.Sprintf(format, args...)) }
	var info Info
	var err error
	switch kind {
	case KindManifest:
		info, err = oracleManifest(ctx, r, ManifestOptions{}, ManifestHandler{
			Resource: func(section, key string, r *Resource) error {
				var cols []string
				for _, c := range r.Columns {
					cols = append(cols, string(c.Name)+":"+string(c.DataType))
				}
				add("%s %s id=%s type=%s name=%s mat=%s tags=%q deps=%q cols=%q", section, key, r.UniqueID, r.ResourceType,
					r.Name, r.Config.Materialized, []string(r.Tags), []string(r.DependsOn.Nodes), cols)
				return nil
			},
		})
	case KindCatalog:
		info, err = oracleCatalog(ctx, r, func(section, key string, t *CatalogTable) error {
			var cols []string
			for _, c := range t.Columns {
				cols = append(cols, string(c.Name)+":"+string(c.Type)+":"+num(c.Index))
			}
			add("%s %s id=%s type=%s cols=%q", section, key, t.UniqueID, t.Metadata.Type, cols)
			return nil
		})
	case KindRunResults:
		info, err = oracleRunResults(ctx, r, func(res *RunResult) error {
			add("%s %s exec=%s failures=%s msg=%q timing=%q", res.UniqueID, res.Status, num(res.ExecutionTime),
				num(res.Failures), res.Message, oracleTiming(res.Timing))
			return nil
		})
	case KindSources:
		info, err = oracleSources(ctx, r, func(res *FreshnessResult) error {
			loaded := "-"
			if res.MaxLoadedAt.Set {
				loaded = res.MaxLoadedAt.Time.String()
			}
			add("%s %s loaded=%s age=%s err=%q exec=%s timing=%q", res.UniqueID, res.Status, loaded, num(res.AgeSeconds),
				res.Error, num(res.ExecutionTime), oracleTiming(res.Timing))
			return nil
		})
	}
	out.meta, out.version, out.warnings = info.Metadata, info.Version, len(info.Warnings)
	if info.Version.Warning != "" {
		out.warnings-- // a version warning, not an entry's
	}
	return out, err
}

func oracleTiming(ts []Timing) []string {
	var out []string
	for _, t := range ts {
		at := "-"
		if t.StartedAt.Set {
			at = t.StartedAt.Time.String()
		}
		out = append(out, string(t.Name)+"@"+at)
	}
	return out
}

// TestCorpusOracle reads every artifact of the real corpus with the
// streaming reader as production does and with the typed oracle readers,
// and wants the same metadata, version and entries (ids, names, types,
// tags, lineage, columns, statuses, numbers and times) from both.
func TestCorpusOracle(t *testing.T) {
	dir, rows := corpusIndex(t)
	total := 0
	t.Cleanup(func() {
		t.Logf("compared %d entries", total)
		if total < 1000 && !t.Failed() {
			t.Errorf("compared %d entries in all; want the corpus's thousands", total)
		}
	})
	for _, row := range rows {
		t.Run(row.path, func(t *testing.T) {
			kind := Kind(row.kind)
			path := filepath.Join(dir, row.path)
			if kind == "semantic_manifest" {
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if info, err := ReadSemanticManifest(t.Context(), f); err != nil || len(info.Warnings) > 0 {
					t.Fatalf("ReadSemanticManifest = %+v, %v; want no error nor warning", info, err)
				}
				return
			}
			if slices.Index(KnownVersions(kind), 1) < 0 {
				t.Skipf("artifact kind %q is not read", row.kind)
			}
			got := readFile(t, path, func(r io.Reader) (read, error) { return streamRead(r, kind) })
			want := readFile(t, path, func(r io.Reader) (read, error) { return oracleRead(t.Context(), r, kind) })
			if row.version != "" && got.version.Written != atoi(strings.TrimPrefix(row.version, "v")) {
				t.Errorf("version = v%d, want %s", got.version.Written, row.version)
			}
			if got.version != want.version || fmt.Sprint(got.meta) != fmt.Sprint(want.meta) {
				t.Errorf("stream read metadata %+v as %+v; oracle %+v as %+v", got.meta, got.version, want.meta, want.version)
			}
			if len(got.entries) != len(want.entries) {
				t.Fatalf("stream read %d entries, oracle %d; want the same", len(got.entries), len(want.entries))
			}
			total += len(got.entries)
			for i := range got.entries {
				if got.entries[i] != want.entries[i] {
					t.Fatalf("entry %d:\nstream %s\noracle %s", i, got.entries[i], want.entries[i])
				}
			}
		})
	}
}

func readFile(t *testing.T, path string, fn func(io.Reader) (read, error)) read {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := fn(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return got
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
