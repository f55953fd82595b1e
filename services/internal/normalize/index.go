package normalize

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

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

// chunked is an append-only list kept in chunks: it grows without copying
// and without the unused half a doubled slice keeps.
type chunked[T any] struct {
	chunks [][]T
	n      int
}

const chunkLen = 1024

func (c *chunked[T]) add(v T) {
	if c.n%chunkLen == 0 {
		c.chunks = append(c.chunks, make([]T, 0, chunkLen))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, v)
	c.n++
}

// at is element i, for i < c.n.
func (c *chunked[T]) at(i int) *T { return &c.chunks[i/chunkLen][i%chunkLen] }

// result is a node's result in run_results.json, compactly.
type result struct {
	status, message, thread, adapter, invocation uint32 // interned; adapter is compact JSON
	hasFailures, hasRows                         bool
	exec                                         float64
	failures, rows                               int64
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
	index              int32 // 0 for none
}

// readIndexes reads catalog, run results and source freshness into compact
// indexes by node number.
func (n *normalizer) readIndexes(ctx context.Context, in Input) error {
	defer n.numberPending()
	if in.Catalog != nil {
		if err := n.readArtifact(ctx, in.Catalog, artifact.KindCatalog, n.catalogSection); err != nil {
			return err
		}
		if n.dupColumns > 0 {
			n.iwarnf("catalog.json: %d columns have the same name as another column of their table, case-insensitively "+
				"(keys that differ only in case, or a repeated key): each is merged into the first by index", n.dupColumns)
		}
	}
	for _, rr := range append([]io.Reader{in.RunResults}, in.MoreRunResults...) {
		if rr == nil {
			continue
		}
		inv := uint32(0)
		err := n.readArtifact(ctx, rr, artifact.KindRunResults, func(s *artifact.Stream, name string, m artifact.Metadata) error {
			inv = n.intern(string(m.InvocationID))
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
			inv := n.intern(string(m.InvocationID))
			return n.elements(s, artifact.KindSources, name, func() error { return n.addFreshness(s, inv) })
		})
		if err != nil {
			return err
		}
	}
	if in.SemanticManifest != nil {
		info, err := artifact.ReadSemanticManifest(ctx, in.SemanticManifest)
		if err != nil {
			return malformed(artifact.KindSemanticManifest, err, "document")
		}
		n.idxWarnings = append(n.idxWarnings, info.Warnings...)
		n.semantic = &info
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
				return malformed(kind, err, "metadata")
			}
			sawMeta = true
			n.inoteVersion(kind, m, v)
			return nil
		}
		return member(s, name, m)
	})
	if err != nil {
		return err
	}
	if !sawMeta {
		n.inoteVersion(kind, m, artifact.MissingVersion(kind))
	}
	return nil
}

func (n *normalizer) elements(s *artifact.Stream, kind artifact.Kind, name string, fn func() error) error {
	ok, err := s.ElementsFunc(fn)
	if err == nil && !ok {
		n.iwarnf("%s: %s is not an array; skipped", kind.FileName(), name)
	}
	return err
}

func (n *normalizer) catalogSection(s *artifact.Stream, name string, _ artifact.Metadata) error {
	switch name {
	case "nodes", "sources":
		ok, err := s.MembersObject(func(key []byte) error { return n.addCatalog(s, name, key) })
		if err == nil && !ok {
			n.iwarnf("catalog.json: %s is not an object; skipped", name)
		}
		return err
	case "errors":
		raw, err := s.Value()
		if err != nil {
			return err
		}
		for _, e := range artifact.RawTextList(raw) {
			n.iwarnf("catalog.json: dbt reported: %s", e)
		}
	}
	return nil
}

func (n *normalizer) addCatalog(s *artifact.Stream, section string, rawKey []byte) error {
	n.nodeLater(&n.catNode, rawKey)
	var e catalogEntry
	var buf []byte
	_, err := s.Object(func(k, v []byte) error {
		switch string(k) {
		case "metadata":
			_, err := artifact.EachMember(v, func(k, v []byte) error {
				switch string(k) {
				case "type":
					e.tableType = n.internRaw(v)
				case "comment":
					e.comment = n.internRaw(v)
				case "owner":
					e.owner = n.internRaw(v)
				}
				return nil
			})
			return err
		case "columns":
			cols := n.colScratch[:0]
			defer func() { e.columns, n.colScratch = slices.Clone(cols), cols[:0] }() // exactly as long
			_, err := artifact.EachMember(v, func(key, v []byte) error {
				c := catColumn{name: n.internBytes(key)} // the key names the column; see uniqueColumns
				_, err := artifact.EachMember(v, func(k, v []byte) error {
					switch string(k) {
					case "name":
						if len(key) == 0 && !isEmptyText(v) {
							c.name = n.internRaw(v)
						}
					case "type":
						c.typ = n.internRaw(v)
					case "comment":
						c.comment = n.internRaw(v)
					case "index":
						if num := artifact.RawNumber(v); num.Set {
							c.index = int32(num.Value)
						}
					}
					return nil
				})
				cols = append(cols, c)
				return err
			})
			if err != nil {
				return malformed(artifact.KindCatalog, err, section, string(rawKey), "columns")
			}
			return nil
		case "stats":
			var err error
			if buf, err = n.appendStats(buf[:0], v); err != nil {
				return malformed(artifact.KindCatalog, err, section, string(rawKey), "stats")
			}
			if len(buf) > 2 {
				e.stats = n.intern(string(buf))
			}
		}
		return nil
	})
	slices.SortStableFunc(e.columns, func(a, b catColumn) int { return int(a.index) - int(b.index) })
	e.columns = n.uniqueColumns(e.columns)
	n.cats.add(e)
	return err
}

// uniqueColumns merges, in place, the catalog columns whose names are equal
// under Unicode case folding (keys "ID" and "id", or a repeated key) into
// the first by index, which keeps its name; a later one fills in a missing
// type or comment. A catalog column is named by its key in the table's
// columns object, as dbt writes it; its name member only when the key is
// empty (a name that disagrees with its key, as key "col_2" with name
// "col_1", is not believed: the key is unique in the object). Asset columns are merged by name case-insensitively, so two
// such catalog columns would be two columns of the same name. It sorts
// positions by folded name in a scratch slice: no allocation, and nothing
// written when no name repeats (the common case).
func (n *normalizer) uniqueColumns(cols []catColumn) []catColumn {
	if len(cols) < 2 {
		return cols
	}
	order := n.colOrder[:0]
	for i := range cols {
		order = append(order, int32(i))
	}
	defer func() { n.colOrder = order[:0] }()
	name := func(i int32) string { return n.istr.get(cols[i].name) }
	slices.SortStableFunc(order, func(a, b int32) int { return foldCompare(name(a), name(b)) })
	dup := false
	for i := 1; i < len(order) && !dup; i++ {
		dup = foldCompare(name(order[i-1]), name(order[i])) == 0
	}
	if !dup {
		return cols
	}
	drop := n.colDrop[:0]
	for range cols {
		drop = append(drop, false)
	}
	defer func() { n.colDrop = drop[:0] }()
	for g := 0; g < len(order); {
		first := &cols[order[g]] // the stable sort keeps the first by index first
		e := g + 1
		for ; e < len(order) && foldCompare(name(order[g]), name(order[e])) == 0; e++ {
			c := cols[order[e]]
			if n.istr.get(first.typ) == "" {
				first.typ = c.typ
			}
			if n.istr.get(first.comment) == "" {
				first.comment = c.comment
			}
			drop[order[e]] = true
			n.dupColumns++
		}
		g = e
	}
	out := cols[:0]
	for i, c := range cols {
		if !drop[i] {
			out = append(out, c)
		}
	}
	return out
}

// foldCompare orders strings by their runes under Unicode simple case
// folding (each rune as the least of its folding orbit); it is 0 exactly
// when strings.EqualFold reports them equal.
func foldCompare(a, b string) int {
	for a != "" && b != "" {
		ra, na := rune(a[0]), 1
		if ra >= utf8.RuneSelf {
			ra, na = utf8.DecodeRuneInString(a)
		}
		rb, nb := rune(b[0]), 1
		if rb >= utf8.RuneSelf {
			rb, nb = utf8.DecodeRuneInString(b)
		}
		if fa, fb := foldRune(ra), foldRune(rb); fa != fb {
			return cmp.Compare(fa, fb)
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

// foldRune is the least rune of r's case-folding orbit: upper case for
// ASCII letters (K, not the Kelvin sign U+212A).
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		return r
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}

// appendStats writes a catalog's stats as {id: value}, without has_stats.
func (n *normalizer) appendStats(dst, raw []byte) ([]byte, error) {
	o := obj{b: dst}
	o.open()
	_, err := artifact.EachMember(raw, func(k, v []byte) error {
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
	return o.b, err
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
			r.message = n.internRaw(v)
		}
	})
	if err != nil {
		return err
	}
	n.results.add(*r)
	n.nodeLater(&n.resNode, id)
	return nil
}

// readResult reads the members run results and freshness results share;
// other calls more for the rest.
func (n *normalizer) readResult(s *artifact.Stream, r *result, other func(k, v []byte)) error {
	var buf []byte
	_, err := s.Object(func(k, v []byte) error {
		switch string(k) {
		case "status":
			r.status = n.internRaw(v)
		case "execution_time":
			r.exec = artifact.RawNumber(v).Value
		case "thread_id":
			r.thread = n.internRaw(v)
		case "adapter_response":
			if artifact.IsEmptyObject(v) {
				return nil
			}
			r.adapter, buf = n.internCompact(v, buf)
			if rows := artifact.Member(v, "rows_affected"); len(rows) > 0 && rows[0] != '"' {
				if num := artifact.RawNumber(rows); num.Set {
					r.rows, r.hasRows = int64(num.Value), true
				}
			}
		case "timing":
			_, err := artifact.EachElement(v, func(t []byte) error {
				var name, start, end []byte
				_, err := artifact.EachMember(t, func(k, v []byte) error {
					switch string(k) {
					case "name":
						name = v
					case "started_at":
						start = v
					case "completed_at":
						end = v
					}
					return nil
				})
				base := -1
				switch string(strBytes(name)) {
				case "compile":
					base = 0
				case "execute":
					base = 2
				}
				if base >= 0 {
					r.times[base], r.times[base+1] = unixNano(start), unixNano(end)
				}
				return err
			})
			return malformed(artifact.KindRunResults, err, "timing")
		default:
			other(k, v)
		}
		return nil
	})
	return err
}

func unixNano(raw []byte) int64 {
	if b := strBytes(raw); b != nil {
		if ns, ok := fastTime(b); ok {
			return ns
		}
	}
	t, ok := artifact.ParseTime(artifact.RawText(raw))
	if !ok {
		return 0
	}
	return t.UnixNano()
}

// fastTime parses the timestamps dbt writes most, 2006-01-02T15:04:05Z and
// 2006-01-02T15:04:05.999999Z, without allocating; ok is false otherwise.
func fastTime(b []byte) (int64, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	var f [6]int
	for i, p := range [6][2]int{{0, 4}, {5, 2}, {8, 2}, {11, 2}, {14, 2}, {17, 2}} {
		v, ok := num(p[0], p[1])
		if !ok {
			return 0, false
		}
		f[i] = v
	}
	nanos := 0
	if rest := b[19 : len(b)-1]; len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return 0, false
		}
		v, ok := num(20, len(rest)-1)
		if !ok {
			return 0, false
		}
		for range 10 - len(rest) {
			v *= 10
		}
		nanos = v
	}
	y, m, d := f[0], f[1], f[2]
	if y < 1678 || y > 2261 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		return 0, false // February 30th and the like, or beyond UnixNano: ParseTime decides
	}
	secs := daysFromCivil(y, m, d)*86400 + int64(f[3]*3600+f[4]*60+f[5])
	return secs*1e9 + int64(nanos), true
}

func daysIn(y, m int) int {
	if m == 2 {
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + (m+m/8)%2
}

// daysFromCivil is the number of days from 1970-01-01 to the date y-m-d
// (proleptic Gregorian, y > 0): Howard Hinnant's days_from_civil.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	doy := (153*((m+9)%12)+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
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
				f.criteria, buf = n.internCompact(v, buf)
			}
		case "error":
			f.err = n.internRaw(v)
		}
	})
	if err != nil {
		return err
	}
	n.nodeLater(&n.freshNode, id)
	n.freshList = append(n.freshList, f)
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

// The indexes are read while the first pass runs, so they keep strings and
// warnings of their own (see normalizer); the warnings are appended after
// the manifest's, in order.

func (n *normalizer) intern(s string) uint32 { return n.istr.id(s) }

// internCompact interns the JSON value raw compacted (0 when it is not
// valid JSON), with buf as scratch. The same raw value as the last call's
// (the adapter responses of a run of tests) is not compacted again.
func (n *normalizer) internCompact(raw, buf []byte) (uint32, []byte) {
	if bytes.Equal(raw, n.lastRaw) {
		return n.lastCompact, buf
	}
	buf, ok := artifact.AppendCompact(buf[:0], raw)
	i := uint32(0)
	if ok {
		i = n.istr.idBytes(buf)
	}
	n.lastRaw, n.lastCompact = append(n.lastRaw[:0], raw...), i
	return i, buf
}
func (n *normalizer) internBytes(b []byte) uint32 { return n.istr.idBytes(b) }
func (n *normalizer) internRaw(raw []byte) uint32 { return n.istr.raw(raw) }

// keyRef is a unique_id the indexes read, waiting for its node number:
// its bytes end at end in pendingKeys; the number goes to (*list)[i].
type keyRef struct {
	list *[]int32
	i    int32
	end  uint32
}

// nodeLater appends to list the node number of the unique_id key, once
// numbered: the indexes number their keys 256 at a time, with one lock.
func (n *normalizer) nodeLater(list *[]int32, key []byte) {
	*list = append(*list, -1)
	n.pendingKeys = append(n.pendingKeys, key...)
	n.pending = append(n.pending, keyRef{list: list, i: int32(len(*list) - 1), end: uint32(len(n.pendingKeys))})
	if len(n.pending) == 256 {
		n.numberPending()
	}
}

func (n *normalizer) numberPending() {
	n.mu.Lock()
	start := uint32(0)
	for _, p := range n.pending {
		(*p.list)[p.i] = n.idOfLocked(n.pendingKeys[start:p.end])
		start = p.end
	}
	n.mu.Unlock()
	n.pending, n.pendingKeys = n.pending[:0], n.pendingKeys[:0]
}

func (n *normalizer) iwarnf(format string, args ...any) {
	n.idxWarnings = append(n.idxWarnings, fmt.Sprintf(format, args...))
}

func (n *normalizer) inoteVersion(kind artifact.Kind, m artifact.Metadata, v artifact.Version) {
	if s := string(m.SchemaVersion); s != "" {
		n.idxVersions[kind.FileName()] = s
	}
	if v.Warning != "" {
		n.iwarnf("%s", v.Warning)
	}
}

// joinIndexes files the indexes by node number once both the first pass
// and the indexes are read: later results for a node replace earlier ones,
// and entries of nodes the manifest does not define are counted.
func (n *normalizer) joinIndexes() {
	nodes := len(n.ids)
	n.res, n.cat = make([]int32, nodes), make([]int32, nodes)
	for i, nd := range n.resNode {
		n.res[nd] = int32(i + 1) // a later step's result replaces an earlier one's
		if !n.defined[nd] {
			n.resultsOff++
		}
	}
	for nd, r := range n.res { // one count per node: its last result, as its asset shows
		if r == 0 {
			continue
		}
		status := n.istr.get(n.results.at(int(r) - 1).status)
		n.sum.ResultStatuses[status]++
		if id := n.ids[nd]; strings.HasPrefix(id, "test.") || strings.HasPrefix(id, "unit_test.") {
			countOutcome(&n.sum.Tests, status)
		}
	}
	for i, nd := range n.catNode {
		if n.defined[nd] {
			n.cat[nd] = int32(i + 1)
			n.cats.at(i).used = true
		} else {
			n.catalogOff++
		}
	}
	for i, nd := range n.freshNode {
		n.fresh[nd] = n.freshList[i]
	}
	for _, f := range n.fresh {
		n.sum.ResultStatuses[n.istr.get(f.status)]++
	}
	n.resNode, n.catNode, n.freshNode, n.freshList = nil, nil, nil, nil
	n.sum.Warnings = append(n.sum.Warnings, n.idxWarnings...)
	for k, v := range n.idxVersions {
		n.sum.ArtifactVersions[k] = v
	}
	if n.semantic != nil {
		for _, s := range []string{"semantic_models", "metrics", "saved_queries"} {
			if got, want := n.semantic.Entries[s], n.sections[s]; got != want {
				n.warnf("semantic_manifest.json has %d %s, manifest.json %d; the manifest's are harvested", got, s, want)
			}
		}
	}
}
