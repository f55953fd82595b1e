package normalize

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// normalizer is the state of one normalization: what the first pass over
// the manifest learned (IDs, lineage, test links, groups), and compact
// indexes of the smaller artifacts, keyed by node number once joined.
//
// The first pass and the indexes are read at the same time on two
// goroutines. They share the node numbering (ids, index, defined), under
// mu; the indexes number the nodes they name in batches (see nodeLater), so
// the two seldom meet on the lock. Otherwise the first pass owns str and
// sum, the indexes istr and the fields from res on. joinIndexes, after
// both, files the indexes by node number; pass two only reads.
type normalizer struct {
	opts Options
	sum  Summary
	str  interner // the first pass's strings (tested columns)

	ids     []string         // unique_id by node number
	index   map[string]int32 // node number by unique_id
	defined []bool           // has an entry in the manifest (not only referenced)

	entries              []entryAt // every entry of the resource sections, in manifest order
	depEdges, childEdges []edge
	childMap             bool
	links                []testLink
	groups               map[string]events.GroupInfo
	adapter              string
	sections             map[string]int
	unknownTypes         map[string]int

	down, tests csr     // by node number: downstream nodes; test links
	targetOf    []int32 // by node number: the node a test tests, -1 for none
	deps        []int32
	cur         result

	mu sync.Mutex // ids, index and defined, until the first pass and the indexes are read

	istr        interner // the indexes' strings
	lastRaw     []byte   // internCompact's last value, and its number
	lastCompact uint32
	pending     []keyRef // unique_ids the indexes read, to number
	pendingKeys []byte
	res         []int32 // by node number: 1 + index in results, 0 for none
	results     chunked[result]
	resNode     []int32 // node number of each result, until joinIndexes
	cat         []int32 // by node number: 1 + index in cats
	cats        chunked[catalogEntry]
	colScratch  []catColumn
	colOrder    []int32 // uniqueColumns' scratch
	colDrop     []bool  // uniqueColumns' scratch
	dupColumns  int     // catalog columns merged into another of the same name
	catNode     []int32 // node number of each catalog entry, until joinIndexes
	idxWarnings []string
	idxVersions map[string]string
	fresh       map[int32]*freshness // by node number, after joinIndexes
	freshNode   []int32              // node number of each of freshList, until then
	freshList   []*freshness
	semantic    *artifact.Info
	catalogOff  int // catalog entries of nodes not in the manifest
	resultsOff  int
}

type edge struct{ from, to int32 }

// entryAt is where the first pass found an entry: pass two reads its
// bytes from there, without scanning the manifest again.
type entryAt struct {
	off     int64 // offset in manifest.json
	n       int   // length in bytes; 0 when the entry is not an object
	node    int32
	section uint8 // index in resourceSections
}

// testLink is a test (or unit test) and the node (and column) it tests.
type testLink struct {
	target, test int32
	column       uint32 // interned column name, 0 for none
}

func newNormalizer(opts Options) *normalizer {
	return &normalizer{
		opts: opts,
		sum: Summary{
			Counts:           map[string]int{},
			ResultStatuses:   map[string]int{},
			ArtifactVersions: map[string]string{},
			Warnings:         []string{},
		},
		str:          newInterner(),
		index:        map[string]int32{},
		groups:       map[string]events.GroupInfo{},
		sections:     map[string]int{},
		unknownTypes: map[string]int{},
		istr:         newInterner(),
		fresh:        map[int32]*freshness{},
		idxVersions:  map[string]string{},
	}
}

// idOf numbers a unique_id, on first sight.
func (n *normalizer) idOf(b []byte) int32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.idOfLocked(b)
}

// define numbers a unique_id that has an entry in the manifest, and
// returns its number and the unique_id.
func (n *normalizer) define(b []byte) (int32, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	i := n.idOfLocked(b)
	n.defined[i] = true
	return i, n.ids[i]
}

func (n *normalizer) idOfLocked(b []byte) int32 {
	if i, ok := n.index[string(b)]; ok {
		return i
	}
	i := int32(len(n.ids))
	s := string(b)
	n.ids = append(n.ids, s)
	n.defined = append(n.defined, false)
	n.index[s] = i
	return i
}

// knownSections are the manifest's top-level members, of every version.
func knownSection(name string) bool {
	switch name {
	case "metadata", "nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests",
		"functions", "groups", "macros", "docs", "disabled", "selectors", "parent_map", "child_map", "group_map":
		return true
	}
	return false
}

// resourceSections are the manifest's sections whose entries are assets.
var resourceSections = [...]string{"nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "unit_tests", "functions"}

func isResourceSection(name string) bool { return sectionIndex(name) >= 0 }

func sectionIndex(name string) int {
	for i, s := range resourceSections {
		if s == name {
			return i
		}
	}
	return -1
}

// knownType returns the resource type the harvest maps named b (a constant,
// so no allocation), and whether it knows it.
func knownType(b []byte) (string, bool) {
	for _, t := range [...]string{"model", "test", "seed", "snapshot", "analysis", "operation", "sql_operation", "rpc", "sql",
		"source", "exposure", "metric", "semantic_model", "saved_query", "unit_test", "function"} {
		if string(b) == t {
			return t, true
		}
	}
	return "", false
}

// pass1 reads the manifest for what the assets need from other entries:
// every unique_id, depends_on, test targets, child_map, groups, metadata.
func (n *normalizer) pass1(ctx context.Context, r interface{ Read([]byte) (int, error) }) error {
	s := artifact.NewStream(r, artifact.KindManifest)
	sawMeta := false
	count := 0
	err := s.Walk(func(name string) error {
		switch {
		case name == "metadata":
			raw, err := s.Value()
			if err != nil {
				return err
			}
			sawMeta = true
			return n.metadata(raw)
		case isResourceSection(name):
			sec := sectionIndex(name)
			ok, err := s.MembersObject(func(key []byte) error {
				if count++; count%512 == 1 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				n.sections[name]++
				return n.lineage(s, sec, name, key)
			})
			if err == nil && !ok {
				n.warnf("manifest.json: %s is not an object; skipped", name)
			}
			return err
		case name == "groups":
			_, err := s.Members(n.group)
			return err
		case name == "child_map":
			n.childMap = true
			_, err := s.Members(n.children)
			return err
		case !knownSection(name):
			n.warnf("manifest.json: top-level member %q is not harvested", name)
		}
		return s.Skip()
	})
	if err != nil {
		return fmt.Errorf("normalize: %w", err)
	}
	if !sawMeta {
		n.noteVersion(artifact.KindManifest, artifact.Metadata{}, artifact.MissingVersion(artifact.KindManifest))
	}
	for t, c := range n.unknownTypes {
		n.warnf("manifest.json: %d entries of resource_type %q, harvested with the common fields only", c, t)
	}
	return nil
}

func (n *normalizer) metadata(raw []byte) error {
	m, v, err := artifact.ParseMetadata(artifact.KindManifest, raw)
	if err != nil {
		return malformed(artifact.KindManifest, err, "metadata")
	}
	n.noteVersion(artifact.KindManifest, m, v)
	n.adapter = string(m.AdapterType)
	n.sum.Project = &events.ProjectInfo{
		Name:          string(m.ProjectName),
		DBTVersion:    string(m.DBTVersion),
		AdapterType:   string(m.AdapterType),
		ProjectIDHash: artifact.RawText(artifact.Member(raw, "project_id")),
		InvocationID:  string(m.InvocationID),
		GeneratedAt:   string(m.GeneratedAt),
		SchemaVersion: string(m.SchemaVersion),
	}
	return nil
}

func (n *normalizer) group(key string, raw []byte) error {
	g := events.GroupInfo{UniqueID: key, Name: artifact.RawText(artifact.Member(raw, "name"))}
	if g.Name == "" {
		g.Name = key
	}
	g.Description = artifact.RawText(artifact.Member(raw, "description"))
	owner := artifact.Member(raw, "owner")
	if artifact.IsObject(owner) {
		g.OwnerName = artifact.RawText(artifact.Member(owner, "name"))
		g.OwnerEmail = artifact.RawText(artifact.Member(owner, "email"))
	} else {
		g.OwnerName = artifact.RawText(owner)
	}
	n.groups[g.Name] = g
	n.sum.Groups = append(n.sum.Groups, g)
	return nil
}

func (n *normalizer) children(key string, raw []byte) error {
	from := n.idOf([]byte(key))
	_, err := artifact.EachElement(raw, func(v []byte) error {
		n.childEdges = append(n.childEdges, edge{from, n.idOf(strBytes(v))})
		return nil
	})
	return malformed(artifact.KindManifest, err, "child_map", key)
}

// lineage records one entry's number, where it is in the manifest,
// dependencies and, for tests, target.
func (n *normalizer) lineage(s *artifact.Stream, sec int, section string, rawKey []byte) error {
	self, key := n.define(rawKey) // before reading on: rawKey is in the stream's buffer
	var typ, attached, column, ref, kwargs []byte
	deps := n.deps[:0]
	defer func() { n.deps = deps[:0] }()
	isObj, err := s.Object(func(k, v []byte) error {
		switch string(k) {
		case "resource_type":
			typ = v
		case "depends_on":
			_, err := artifact.EachMember(v, func(k, v []byte) error {
				if string(k) != "nodes" {
					return nil
				}
				_, err := artifact.EachElement(v, func(d []byte) error {
					deps = append(deps, n.idOf(strBytes(d)))
					return nil
				})
				return err
			})
			return malformed(artifact.KindManifest, err, section, key, "depends_on")
		case "attached_node":
			attached = v
		case "column_name":
			column = v
		case "model":
			ref = v
		case "test_metadata":
			kwargs = artifact.Member(v, "kwargs")
			if column == nil || isEmptyText(column) {
				column = artifact.Member(kwargs, "column_name")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	at := entryAt{node: self, section: uint8(sec)}
	if isObj {
		at.off, at.n = s.LastObjectAt()
	}
	n.entries = append(n.entries, at)
	t, known := knownType(strBytes(typ))
	if !known {
		if t = artifact.RawText(typ); t == "" {
			t = sectionType(section, key)
		}
		if _, known = knownType([]byte(t)); !known {
			n.unknownTypes[t]++
		}
	}
	for _, d := range deps {
		n.depEdges = append(n.depEdges, edge{d, self})
	}
	if t == "test" || t == "unit_test" {
		// A unit test names its model; a test without attached_node (absent
		// before manifest v9, null for a source's test) has the model kwarg
		// "{{ get_where_subquery(ref('X')) }}".
		name := artifact.RawText(ref)
		if ref == nil && len(strBytes(attached)) == 0 {
			name = refName(artifact.RawText(artifact.Member(kwargs, "model")))
		}
		target := n.resolve(strBytes(attached), name, deps)
		if target >= 0 {
			col := uint32(0)
			if t == "test" {
				col = n.str.raw(column)
			}
			n.links = append(n.links, testLink{target: target, test: self, column: col})
		}
	}
	return nil
}

// resolve finds the node a test tests: attached_node (manifest v9+), else
// the dependency named by the test's model kwarg (or a unit test's model),
// else its first dependency; -1 when none.
func (n *normalizer) resolve(attached []byte, refName string, deps []int32) int32 {
	if len(attached) > 0 {
		return n.idOf(attached)
	}
	if refName != "" {
		for _, d := range deps {
			n.mu.Lock()
			id := n.ids[d]
			n.mu.Unlock()
			if strings.HasSuffix(id, "."+refName) || strings.Contains(id, "."+refName+".v") {
				return d
			}
		}
	}
	if len(deps) > 0 {
		return deps[0]
	}
	return -1
}

// strBytes is a JSON string value's contents (escapes undone), or nil.
func strBytes(raw []byte) []byte {
	if !artifact.IsString(raw) {
		return nil
	}
	in := raw[1 : len(raw)-1]
	if !slices.Contains(in, '\\') {
		return in
	}
	return []byte(artifact.RawText(raw))
}

// sectionType is the resource type of entries of a manifest section that do
// not say theirs.
func sectionType(section, key string) string {
	switch section {
	case "sources":
		return "source"
	case "exposures":
		return "exposure"
	case "metrics":
		return "metric"
	case "semantic_models":
		return "semantic_model"
	case "saved_queries":
		return "saved_query"
	case "unit_tests":
		return "unit_test"
	case "functions":
		return "function"
	}
	typ, _, _ := strings.Cut(key, ".")
	return typ
}

// refName extracts X from a test's model kwarg "{{ get_where_subquery(ref('X')) }}"
// or "source('s', 't')" (as "s.t"); "" when it says neither.
func refName(s string) string {
	for _, fn := range []string{"ref(", "source("} {
		i := strings.Index(s, fn)
		if i < 0 {
			continue
		}
		args := s[i+len(fn):]
		if j := strings.Index(args, ")"); j >= 0 {
			args = args[:j]
		}
		var names []string
		for _, a := range strings.Split(args, ",") {
			a = strings.Trim(strings.TrimSpace(a), `'"`)
			if a != "" && !strings.Contains(a, "=") {
				names = append(names, a)
			}
		}
		if fn == "ref(" && len(names) > 0 {
			return names[len(names)-1]
		}
		return strings.Join(names, ".")
	}
	return ""
}

// csr is a compressed adjacency list: the items of node i are
// items[start[i]:start[i+1]].
type csr struct {
	start []int32
	items []int32
}

func (c csr) of(i int32) []int32 {
	if int(i)+1 >= len(c.start) {
		return nil
	}
	return c.items[c.start[i]:c.start[i+1]]
}

// buildCSR groups values by key; less orders the items of one key.
func buildCSR(nodes int, pairs []edge, less func(a, b int32) int) csr {
	c := csr{start: make([]int32, nodes+1), items: make([]int32, len(pairs))}
	for _, p := range pairs {
		c.start[p.from+1]++
	}
	for i := 1; i <= nodes; i++ {
		c.start[i] += c.start[i-1]
	}
	fill := slices.Clone(c.start[:nodes])
	for _, p := range pairs {
		c.items[fill[p.from]] = p.to
		fill[p.from]++
	}
	for i := range nodes {
		slices.SortFunc(c.items[c.start[i]:c.start[i+1]], less)
	}
	return c
}
