package normalize

import (
	"context"
	"io"
	"slices"
	"strings"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// interner numbers strings, so that indexes hold 4 bytes per repeated
// string (statuses, thread IDs, adapter responses, column types).
type interner struct {
	list []string
	ids  map[string]uint32
}

func newInterner() interner { return interner{list: []string{""}, ids: map[string]uint32{"": 0}} }

func (in *interner) id(s string) uint32 {
	if i, ok := in.ids[s]; ok {
		return i
	}
	i := uint32(len(in.list))
	in.list = append(in.list, s)
	in.ids[s] = i
	return i
}

func (in *interner) idBytes(b []byte) uint32 {
	if i, ok := in.ids[string(b)]; ok {
		return i
	}
	return in.id(string(b))
}

func (in *interner) get(i uint32) string { return in.list[i] }

// raw interns what artifact.RawText reads from raw, without allocating
// when the string is known.
func (in *interner) raw(raw []byte) uint32 {
	if b := strBytes(raw); b != nil {
		return in.idBytes(b)
	}
	return in.id(artifact.RawText(raw))
}

// result is a node's result in run_results.json, compactly.
type result struct {
	status, message, thread, adapter, invocation uint32 // interned; adapter is compact JSON
	exec                                         float64
	failures, rows                               int64
	hasFailures, hasRows                         bool
	times                                        [4]int64 // unix ns: compile start, end, execute start, end
}

// freshness is a source's entry in sources.json.
type freshness struct {
	result
	maxLoadedAt, snapshottedAt int64
	age                        float64
	hasAge                     bool
	criteria                   uint32 // interned compact JSON
	err                        uint32
}

// catalogEntry is the compact form of one catalog table.
type catalogEntry struct {
	tableType, comment, owner, stats uint32 // interned; stats is compact JSON
	columns                          []catColumn
	used                             bool
}

type catColumn struct {
	name, typ, comment uint32
	index              int32
	hasIndex           bool
}

// readIndexes reads catalog, run results and source freshness into compact
// indexes by node number.
func (n *normalizer) readIndexes(ctx context.Context, in Input) error {
	nodes := len(n.ids)
	n.res, n.cat = make([]int32, nodes), make([]int32, nodes)
	if in.Catalog != nil {
		if err := n.readArtifact(ctx, in.Catalog, artifact.KindCatalog, n.catalogSection); err != nil {
			return err
		}
	}
	for _, rr := range append([]io.Reader{in.RunResults}, in.MoreRunResults...) {
		if rr == nil {
			continue
		}
		inv := uint32(0)
		err := n.readArtifact(ctx, rr, artifact.KindRunResults, func(s *artifact.Stream, name string, m artifact.Metadata) error {
			inv = n.str.id(string(m.InvocationID))
			if name != "results" {
				return nil
			}
			return n.elements(s, artifact.KindRunResults, name, func() error { return n.addResult(s, inv) })
		})
		if err != nil {
			return err
		}
	}
	if in.Sources != nil {
		err := n.readArtifact(ctx, in.Sources, artifact.KindSources, func(s *artifact.Stream, name string, m artifact.Metadata) error {
			if name != "results" {
				return nil
			}
			inv := n.str.id(string(m.InvocationID))
			return n.elements(s, artifact.KindSources, name, func() error { return n.addFreshness(s, inv) })
		})
		if err != nil {
			return err
		}
	}
	if in.SemanticManifest != nil {
		info, err := artifact.ReadSemanticManifest(ctx, in.SemanticManifest)
		if err != nil {
			return malformed(artifact.KindSemanticManifest, "document", err)
		}
		n.sum.Warnings = append(n.sum.Warnings, info.Warnings...)
		n.semantic = &info
		for _, s := range []string{"semantic_models", "metrics", "saved_queries"} {
			if got, want := info.Entries[s], n.sections[s]; got != want {
				n.warnf("semantic_manifest.json has %d %s, manifest.json %d; the manifest's are harvested", got, s, want)
			}
		}
	}
	return nil
}

// readArtifact walks one small artifact; member is called for every
// top-level member but metadata, with the metadata read so far.
func (n *normalizer) readArtifact(ctx context.Context, r io.Reader, kind artifact.Kind,
	member func(s *artifact.Stream, name string, m artifact.Metadata) error) error {
	s := artifact.NewStream(r, kind)
	var m artifact.Metadata
	sawMeta := false
	err := s.Walk(func(name string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if name == "metadata" {
			raw, err := s.Value()
			if err != nil {
				return err
			}
			var v artifact.Version
			if m, v, err = artifact.ParseMetadata(kind, raw); err != nil {
				return malformed(kind, "metadata", err)
			}
			sawMeta = true
			n.noteVersion(kind, m, v)
			return nil
		}
		return member(s, name, m)
	})
	if err != nil {
		return err
	}
	if !sawMeta {
		n.noteVersion(kind, m, artifact.MissingVersion(kind))
	}
	return nil
}

func (n *normalizer) elements(s *artifact.Stream, kind artifact.Kind, name string, fn func() error) error {
	ok, err := s.ElementsFunc(fn)
	if err == nil && !ok {
		n.warnf("%s: %s is not an array; skipped", kind.FileName(), name)
	}
	return err
}

func (n *normalizer) catalogSection(s *artifact.Stream, name string, _ artifact.Metadata) error {
	switch name {
	case "nodes", "sources":
		ok, err := s.MembersObject(func(key string) error { return n.addCatalog(s, name, key) })
		if err == nil && !ok {
			n.warnf("catalog.json: %s is not an object; skipped", name)
		}
		return err
	case "errors":
		raw, err := s.Value()
		if err != nil {
			return err
		}
		for _, e := range artifact.RawTextList(raw) {
			n.warnf("catalog.json: dbt reported: %s", e)
		}
	}
	return nil
}

func (n *normalizer) addCatalog(s *artifact.Stream, section, key string) error {
	i := n.lookup([]byte(key))
	if i < 0 || !n.defined[i] {
		n.catalogOff++
		return s.Skip()
	}
	var e catalogEntry
	var buf []byte
	_, err := s.Object(func(k, v []byte) error {
		switch string(k) {
		case "metadata":
			_, err := artifact.EachMember(v, func(k, v []byte) error {
				switch string(k) {
				case "type":
					e.tableType = n.str.raw(v)
				case "comment":
					e.comment = n.str.raw(v)
				case "owner":
					e.owner = n.str.raw(v)
				}
				return nil
			})
			return err
		case "columns":
			_, err := artifact.EachMember(v, func(k, v []byte) error {
				c := catColumn{name: n.str.idBytes(k)}
				_, err := artifact.EachMember(v, func(k, v []byte) error {
					switch string(k) {
					case "name":
						if t := artifact.RawText(v); t != "" {
							c.name = n.str.id(t)
						}
					case "type":
						c.typ = n.str.raw(v)
					case "comment":
						c.comment = n.str.raw(v)
					case "index":
						if num := artifact.RawNumber(v); num.Set {
							c.index, c.hasIndex = int32(num.Value), true
						}
					}
					return nil
				})
				e.columns = append(e.columns, c)
				return err
			})
			return malformed(artifact.KindCatalog, section+"."+key+".columns", err)
		case "stats":
			buf = n.appendStats(buf[:0], v)
			if len(buf) > 2 {
				e.stats = n.str.id(string(buf))
			}
		}
		return nil
	})
	slices.SortStableFunc(e.columns, func(a, b catColumn) int { return int(a.index) - int(b.index) })
	n.cats = append(n.cats, e)
	n.cat[i] = int32(len(n.cats))
	return err
}

// appendStats writes a catalog's stats as {id: value}, without has_stats.
func (n *normalizer) appendStats(dst, raw []byte) []byte {
	o := obj{b: dst}
	o.open()
	artifact.EachMember(raw, func(k, v []byte) error {
		id := string(k)
		if s := artifact.RawText(artifact.Member(v, "id")); s != "" {
			id = s
		}
		if id == "has_stats" || id == "" {
			return nil
		}
		val := artifact.Member(v, "value")
		if val == nil {
			val = []byte("null")
		}
		o.key(id)
		var ok bool
		if o.b, ok = artifact.AppendCompact(o.b, val); !ok {
			o.b = append(o.b, "null"...)
		}
		return nil
	})
	o.close()
	return o.b
}

func (n *normalizer) addResult(s *artifact.Stream, inv uint32) error {
	r := &n.cur
	*r = result{invocation: inv}
	var id []byte
	err := n.readResult(s, r, func(k, v []byte) {
		switch string(k) {
		case "unique_id":
			id = strBytes(v)
		case "failures":
			if num := artifact.RawNumber(v); num.Set {
				r.failures, r.hasFailures = int64(num.Value), true
			}
		case "message":
			r.message = n.str.raw(v)
		}
	})
	if err != nil {
		return err
	}
	status := n.str.get(r.status)
	n.sum.ResultStatuses[status]++
	if sid := string(id); strings.HasPrefix(sid, "test.") || strings.HasPrefix(sid, "unit_test.") {
		countOutcome(&n.sum.Tests, status)
	}
	i := n.lookup(id)
	if i < 0 || !n.defined[i] {
		n.resultsOff++
		return nil
	}
	if n.res[i] > 0 {
		n.results[n.res[i]-1] = *r
		return nil
	}
	n.results = append(n.results, *r)
	n.res[i] = int32(len(n.results))
	return nil
}

// readResult reads the members run results and freshness results share;
// other calls more for the rest.
func (n *normalizer) readResult(s *artifact.Stream, r *result, other func(k, v []byte)) error {
	var buf []byte
	_, err := s.Object(func(k, v []byte) error {
		switch string(k) {
		case "status":
			r.status = n.str.raw(v)
		case "execution_time":
			r.exec = artifact.RawNumber(v).Value
		case "thread_id":
			r.thread = n.str.raw(v)
		case "adapter_response":
			if artifact.IsEmptyObject(v) {
				return nil
			}
			var ok bool
			if buf, ok = artifact.AppendCompact(buf[:0], v); ok {
				r.adapter = n.str.id(string(buf))
			}
			if rows := artifact.RawNumber(artifact.Member(v, "rows_affected")); rows.Set && artifact.Member(v, "rows_affected")[0] != '"' {
				r.rows, r.hasRows = int64(rows.Value), true
			}
		case "timing":
			_, err := artifact.EachElement(v, func(t []byte) error {
				base := -1
				switch artifact.RawText(artifact.Member(t, "name")) {
				case "compile":
					base = 0
				case "execute":
					base = 2
				}
				if base >= 0 {
					r.times[base] = unixNano(artifact.Member(t, "started_at"))
					r.times[base+1] = unixNano(artifact.Member(t, "completed_at"))
				}
				return nil
			})
			return malformed(artifact.KindRunResults, "timing", err)
		default:
			other(k, v)
		}
		return nil
	})
	return err
}

func unixNano(raw []byte) int64 {
	t, ok := artifact.ParseTime(artifact.RawText(raw))
	if !ok {
		return 0
	}
	return t.UnixNano()
}

func (n *normalizer) addFreshness(s *artifact.Stream, inv uint32) error {
	f := &freshness{}
	f.invocation = inv
	var id []byte
	var buf []byte
	err := n.readResult(s, &f.result, func(k, v []byte) {
		switch string(k) {
		case "unique_id":
			id = strBytes(v)
		case "max_loaded_at":
			f.maxLoadedAt = unixNano(v)
		case "snapshotted_at":
			f.snapshottedAt = unixNano(v)
		case "max_loaded_at_time_ago_in_s":
			num := artifact.RawNumber(v)
			f.age, f.hasAge = num.Value, num.Set
		case "criteria":
			if !artifact.IsEmptyObject(v) {
				var ok bool
				if buf, ok = artifact.AppendCompact(buf[:0], v); ok {
					f.criteria = n.str.id(string(buf))
				}
			}
		case "error":
			f.err = n.str.raw(v)
		}
	})
	if err != nil {
		return err
	}
	if i := n.lookup(id); i >= 0 {
		n.fresh[i] = f
	}
	return nil
}

// countOutcome counts a test's run status.
func countOutcome(t *events.TestOutcomes, status string) {
	switch strings.ToLower(status) {
	case "pass", "success":
		t.Pass++
	case "warn":
		t.Warn++
	case "fail":
		t.Fail++
	case "error", "runtime error":
		t.Error++
	case "skipped", "skip":
		t.Skipped++
	default:
		t.Other++
	}
}
