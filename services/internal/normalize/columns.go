package normalize

import (
	"strings"

	"github.com/dbt-harvester/harvester/events"
	"github.com/dbt-harvester/harvester/services/internal/artifact"
)

// mergeColumns merges an asset's YAML columns with its catalog columns by
// name, case-insensitively. The catalog gives the name, type, index and
// comment; the YAML gives description, tags, meta, and the declared type
// when the catalog has none. Catalog columns come first in index order, then
// YAML-only columns in YAML order; nil when there are none.
func mergeColumns(yaml artifact.Columns, cat *catalogEntry) []events.Column {
	var catCols []artifact.CatalogColumn
	if cat != nil {
		catCols = cat.columns
	}
	if len(yaml)+len(catCols) == 0 {
		return nil
	}
	out := make([]events.Column, 0, max(len(yaml), len(catCols)))
	pos := make(map[string]int, len(yaml)+len(catCols))
	for _, c := range catCols {
		col := events.Column{
			Name:      string(c.Name),
			DataType:  string(c.Type),
			Comment:   string(c.Comment),
			InCatalog: true,
		}
		if c.Index.Set {
			col.Index = int(c.Index.Value)
		}
		if col.DataType != "" {
			col.DataTypeSource = "catalog"
		}
		pos[strings.ToLower(col.Name)] = len(out)
		out = append(out, col)
	}
	for _, y := range yaml {
		k := strings.ToLower(string(y.Name))
		i, ok := pos[k]
		if !ok {
			i = len(out)
			pos[k] = i
			out = append(out, events.Column{Name: string(y.Name)})
		}
		c := &out[i]
		c.InManifest = true
		c.Description = string(y.Description)
		if tags := union(y.Tags, y.Config.Tags); len(tags) > 0 {
			c.Tags = tags
		}
		if meta := mergeMeta(y.Meta, y.Config.Meta); len(meta) > 0 {
			c.Meta = meta
		}
		if c.DataType == "" && y.DataType != "" {
			c.DataType, c.DataTypeSource = string(y.DataType), "yaml"
		}
	}
	return out
}

// columnIndex finds a column by name, case-insensitively; -1 when absent.
func columnIndex(cols []events.Column, name string) int {
	for i := range cols {
		if strings.EqualFold(cols[i].Name, name) {
			return i
		}
	}
	return -1
}
