package normalize

import (
	"cmp"

	"github.com/dbt-harvester/harvester/events"
)

// link builds, once the first pass and the indexes are read, the
// downstream lists (from child_map, else from every depends_on) and the
// tests of each node, both ordered by unique_id.
func (n *normalizer) link() {
	edges := n.depEdges
	if n.childMap {
		edges = n.childEdges
	}
	byID := func(a, b int32) int { return cmp.Compare(n.ids[a], n.ids[b]) }
	n.down = buildCSR(len(n.ids), edges, byID)
	n.depEdges, n.childEdges = nil, nil
	pairs := make([]edge, len(n.links))
	for i, l := range n.links {
		pairs[i] = edge{l.target, int32(i)}
	}
	n.tests = buildCSR(len(n.ids), pairs, func(a, b int32) int { return byID(n.links[a].test, n.links[b].test) })
	n.targetOf = make([]int32, len(n.ids))
	for i := range n.targetOf {
		n.targetOf[i] = -1
	}
	for _, l := range n.links {
		n.targetOf[l.test] = l.target
	}
	n.index = nil // pass two names nodes by number only
}

// testOutcomes counts the run results of the tests in links; column
// selects the links of one column (0: all).
func (n *normalizer) testOutcomes(links []int32, column func(uint32) bool) (events.TestOutcomes, int) {
	var t events.TestOutcomes
	ran := 0
	for _, li := range links {
		l := n.links[li]
		if column != nil && !column(l.column) {
			continue
		}
		if r := n.res[l.test]; r > 0 {
			countOutcome(&t, n.istr.get(n.results.at(int(r)-1).status))
			ran++
		}
	}
	return t, ran
}

// unmatched warns about results and catalog entries of nodes the manifest
// does not have.
func (n *normalizer) unmatched() {
	if n.resultsOff > 0 {
		n.warnf("run_results.json: %d results for nodes not in the manifest", n.resultsOff)
	}
	if n.catalogOff > 0 {
		n.warnf("catalog.json: %d entries for nodes not in the manifest", n.catalogOff)
	}
}
