package gen

import (
	"encoding/json"
	"time"
)

type artifactMetadata struct {
	DBTSchemaVersion string            `json:"dbt_schema_version"`
	DBTVersion       string            `json:"dbt_version"`
	GeneratedAt      string            `json:"generated_at"`
	InvocationID     string            `json:"invocation_id"`
	Env              map[string]string `json:"env"`
}

func (p *plan) artifactMetadata(kind string, at time.Time) artifactMetadata {
	return artifactMetadata{
		DBTSchemaVersion: "https://schemas.getdbt.com/dbt/" + kind + ".json", DBTVersion: p.opts.DBTVersion,
		GeneratedAt: timestamp(at), InvocationID: p.opts.InvocationID, Env: map[string]string{},
	}
}

type catalogColumn struct {
	Type    string  `json:"type"`
	Index   int     `json:"index"`
	Name    string  `json:"name"`
	Comment *string `json:"comment"`
}

// catalogColumns keeps the warehouse's column order.
type catalogColumns []catalogColumn

func (c catalogColumns) MarshalJSON() ([]byte, error) {
	out := []byte{'{'}
	for i, col := range c {
		if i > 0 {
			out = append(out, ',')
		}
		k, _ := json.Marshal(col.Name)
		v, err := marshalNoEscape(col)
		if err != nil {
			return nil, err
		}
		out = append(append(append(out, k...), ':'), v...)
	}
	return append(out, '}'), nil
}

type tableMetadata struct {
	Type     string  `json:"type"`
	Schema   string  `json:"schema"`
	Name     string  `json:"name"`
	Database string  `json:"database"`
	Comment  *string `json:"comment"`
	Owner    any     `json:"owner"`
}

type statsItem struct {
	ID          string `json:"id"`
	Label       string `json:"label"`
	Value       any    `json:"value"`
	Include     bool   `json:"include"`
	Description string `json:"description"`
}

type catalogTable struct {
	Metadata tableMetadata        `json:"metadata"`
	Columns  catalogColumns       `json:"columns"`
	Stats    map[string]statsItem `json:"stats"`
	UniqueID string               `json:"unique_id"`
}

// catalogAt is when "dbt docs generate" ran: after the build.
func (p *plan) catalogAt() time.Time {
	return p.opts.GeneratedAt.Add(p.buildDuration() + 20*time.Second)
}

// buildDuration is a rough wall time for the build, used for timestamps.
func (p *plan) buildDuration() time.Duration {
	return time.Duration(60+len(p.nodes)/8) * time.Second
}

func (p *plan) writeCatalog(j *jsonWriter) {
	top := j.open("")
	top.member("metadata", p.artifactMetadata("catalog/v1", p.catalogAt()))
	nodes := top.nested("nodes")
	for i := range p.nodes {
		if n := &p.nodes[i]; n.kind == kindModel || n.kind == kindSeed || n.kind == kindSnapshot {
			nodes.member(n.uid, p.catalogTable(int32(i), n))
		}
	}
	nodes.close()
	sources := top.nested("sources")
	for i := range p.nodes {
		if n := &p.nodes[i]; n.kind == kindSource {
			sources.member(n.uid, p.catalogTable(int32(i), n))
		}
	}
	sources.close()
	top.member("errors", nil)
	top.close()
}

func (p *plan) catalogTable(i int32, n *node) catalogTable {
	db, schema, ident := p.location(n)
	typ := p.d.table
	if n.mat == "view" {
		typ = p.d.view
	}
	cn := p.d.catalogName
	return catalogTable{
		Metadata: tableMetadata{Type: typ, Schema: cn(schema), Name: cn(ident), Database: cn(db), Owner: p.d.owner},
		Columns:  p.catalogColumns(i, n),
		Stats:    p.catalogStats(i, typ == p.d.view),
		UniqueID: n.uid,
	}
}

// catalogColumns lists the relation's columns as the warehouse reports
// them: a few models lack their last YAML column, and derived models,
// snapshots and sources carry columns the YAML never declared.
func (p *plan) catalogColumns(i int32, n *node) catalogColumns {
	var out catalogColumns
	add := func(name string, t logicalType) {
		out = append(out, catalogColumn{Type: p.d.catalogTypes[t], Index: len(out) + 1, Name: p.d.catalogName(name)})
	}
	cols := n.cols
	if n.kind == kindModel && i%7 == 3 && len(cols) > 2 {
		cols = cols[:len(cols)-1] // declared in YAML, dropped from the SQL since
	}
	for _, c := range cols {
		add(c.name, c.typ)
	}
	switch {
	case n.kind == kindSource:
		add(p.groups[n.src].sys.loadedAt, typeTimestamp)
		if p.groups[n.src].sys.loader == "fivetran" {
			add("_fivetran_deleted", typeBool)
		}
	case n.kind == kindSnapshot:
		add("dbt_scd_id", typeText)
		add("dbt_updated_at", typeTimestamp)
		add("dbt_valid_from", typeTimestamp)
		add("dbt_valid_to", typeTimestamp)
	case n.kind == kindModel && n.layer != layerStaging && extraColumn(i) != "":
		add(extraColumn(i), typeTimestamp)
	}
	return out
}

func (p *plan) catalogStats(i int32, view bool) map[string]statsItem {
	has := statsItem{ID: "has_stats", Label: "Has Stats?", Value: false, Description: "Indicates whether there are statistics for this table"}
	if view || p.d.stats == "" {
		return map[string]statsItem{"has_stats": has}
	}
	r := p.rng(i, 4)
	rows := 1000 + r.IntN(5_000_000)
	size := rows * (60 + r.IntN(200))
	has.Value = true
	if p.d.stats == "bigquery" {
		return map[string]statsItem{
			"has_stats": has,
			"num_rows":  {ID: "num_rows", Label: "# Rows", Value: rows, Include: true, Description: "Approximate count of rows in this table"},
			"num_bytes": {ID: "num_bytes", Label: "Approximate Size", Value: size, Include: true, Description: "Approximate size of table as reported by BigQuery"},
		}
	}
	return map[string]statsItem{
		"has_stats":     has,
		"row_count":     {ID: "row_count", Label: "Row Count", Value: rows, Include: true, Description: "An approximate count of rows in this table"},
		"bytes":         {ID: "bytes", Label: "Approximate Size", Value: size, Include: true, Description: "Approximate size of the table as reported by Snowflake"},
		"last_modified": {ID: "last_modified", Label: "Last Modified", Value: p.opts.GeneratedAt.Format("2006-01-02 15:04") + "UTC", Include: true, Description: "The timestamp for last update/change"},
	}
}
