package normalize

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/dbt-harvester/harvester/events"
)

// typeOrder ranks resource types for the emit order; others come last.
func typeOrder(t string) int {
	switch t {
	case "source":
		return 0
	case "seed":
		return 1
	case "model":
		return 2
	case "snapshot":
		return 3
	case "analysis":
		return 4
	case "test":
		return 5
	case "unit_test":
		return 6
	case "exposure":
		return 7
	case "metric":
		return 8
	case "semantic_model":
		return 9
	case "saved_query":
		return 10
	}
	return 11
}

// finish resolves what needed the whole manifest and emits the assets.
func (n *normalizer) finish(ctx context.Context, emit func(events.Asset) error) error {
	n.ownersFromGroups()
	n.attachTests()
	n.downstream()
	n.unmatched()
	sort.Slice(n.assets, func(i, j int) bool {
		a, b := n.assets[i], n.assets[j]
		if oa, ob := typeOrder(a.ResourceType), typeOrder(b.ResourceType); oa != ob {
			return oa < ob
		}
		if a.ResourceType != b.ResourceType {
			return a.ResourceType < b.ResourceType
		}
		return a.UniqueID < b.UniqueID
	})
	for i, a := range n.assets {
		if i%512 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		n.complete(a)
		if err := emit(*a); err != nil {
			return fmt.Errorf("normalize: emit %s: %w", a.UniqueID, err)
		}
		n.assets[i] = nil // let the emitted asset be collected
		n.sum.Assets++
		n.sum.Counts[a.ResourceType]++
	}
	return nil
}

func (n *normalizer) ownersFromGroups() {
	for _, a := range n.assets {
		if a.Owner != "" || a.Group == "" {
			continue
		}
		if o, ok := n.groups[a.Group]; ok {
			a.Owner = string(firstText(o.Name, o.Email))
		}
	}
}

// attachTests records each test on the asset it tests and, for column
// tests, on the column.
func (n *normalizer) attachTests() {
	for _, l := range n.tests {
		target := n.resolve(l)
		test := n.byID[l.test]
		if target == "" {
			continue
		}
		if test.Test != nil && test.Test.AttachedNode == "" {
			test.Test.AttachedNode = target
		}
		a := n.byID[target]
		if a == nil {
			continue
		}
		a.Tests = append(a.Tests, l.test)
		if l.column == "" {
			continue
		}
		if i := columnIndex(a.Columns, l.column); i >= 0 {
			a.Columns[i].Tests = append(a.Columns[i].Tests, l.test)
		}
	}
	for _, a := range n.assets {
		slices.Sort(a.Tests)
		for i := range a.Columns {
			slices.Sort(a.Columns[i].Tests)
		}
	}
}

// resolve finds the node a test tests: attached_node (manifest v9+), else
// the dependency named by the test's model kwarg (or a unit test's model),
// else its only, or first, dependency.
func (n *normalizer) resolve(l testLink) string {
	if l.attached != "" {
		return l.attached
	}
	if l.refName != "" {
		for _, d := range l.deps {
			if a := n.byID[d]; a != nil && (a.Name == l.refName || strings.HasSuffix(d, "."+l.refName)) {
				return d
			}
		}
	}
	if len(l.deps) > 0 {
		return l.deps[0]
	}
	return ""
}

// downstream fills direct downstream IDs from child_map, or, when the
// manifest has none, from every asset's depends_on.
func (n *normalizer) downstream() {
	if !n.childMap {
		for _, a := range n.assets {
			for _, d := range a.DependsOn {
				if !contains(n.children[d], a.UniqueID) {
					n.children[d] = append(n.children[d], a.UniqueID)
				}
			}
		}
	}
	for _, a := range n.assets {
		if c := n.children[a.UniqueID]; len(c) > 0 {
			a.Downstream = slices.Sorted(slices.Values(c))
		}
	}
	n.children = nil
}

// unmatched warns about results and catalog entries of nodes the manifest
// does not have.
func (n *normalizer) unmatched() {
	var results, catalog int
	for id := range n.idx.results {
		if n.byID[id] == nil {
			results++
		}
	}
	for _, c := range n.idx.catalog {
		if !c.used {
			catalog++
		}
	}
	if results > 0 {
		n.sum.Warnings = append(n.sum.Warnings, fmt.Sprintf("run_results.json: %d results for nodes not in the manifest", results))
	}
	if catalog > 0 {
		n.sum.Warnings = append(n.sum.Warnings, fmt.Sprintf("catalog.json: %d entries for nodes not in the manifest", catalog))
	}
}

// complete fills what is not held per asset while the manifest is read: the
// asset ID, the run context, and empty (not null) lists and meta.
func (n *normalizer) complete(a *events.Asset) {
	ref := n.opts.Ref
	a.AssetID = events.StableAssetID(ref.AccountID, ref.ProjectID, ref.EnvironmentID, a.UniqueID)
	a.RunRef = ref
	if a.Tags == nil {
		a.Tags = []string{}
	}
	if a.Meta == nil {
		a.Meta = map[string]any{}
	}
	if a.Columns == nil {
		a.Columns = []events.Column{}
	}
	if a.DependsOn == nil {
		a.DependsOn = []string{}
	}
}
