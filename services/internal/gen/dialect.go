package gen

import (
	"fmt"
	"strings"
)

// logicalType is a column's type before an adapter names it.
type logicalType uint8

const (
	typeInt logicalType = iota
	typeBigint
	typeText
	typeNumeric
	typeTimestamp
	typeDate
	typeBool
	numTypes
)

// dialect holds what an adapter changes: naming, quoting, types, catalog shape.
type dialect struct {
	name         string
	database     string // models, seeds, snapshots
	rawDatabase  string // sources
	target       string // target schema; custom schemas become target_custom
	quote        string // identifier quote; "" leaves identifiers bare
	upper        bool   // the warehouse folds unquoted names to upper case
	owner        any    // catalog owner (nil when the adapter reports none)
	table, view  string // catalog metadata.type
	yamlTypes    [numTypes]string
	catalogTypes [numTypes]string
	stats        string // "", "snowflake" or "bigquery"
}

// adapters lists the supported adapters, in the order the error message names them.
func adapters() []string {
	return []string{"postgres", "redshift", "snowflake", "bigquery", "duckdb", "databricks"}
}

func dialectFor(adapter string) (dialect, error) {
	pg := dialect{
		name: adapter, database: "warehouse", rawDatabase: "warehouse", target: "analytics", quote: `"`,
		owner: "dbt_cloud", table: "BASE TABLE", view: "VIEW",
		yamlTypes:    [numTypes]string{"integer", "bigint", "text", "numeric(18,2)", "timestamp", "date", "boolean"},
		catalogTypes: [numTypes]string{"integer", "bigint", "text", "numeric", "timestamp without time zone", "date", "boolean"},
	}
	switch adapter {
	case "postgres":
		return pg, nil
	case "redshift":
		pg.database, pg.rawDatabase = "dev", "dev"
		pg.yamlTypes[typeText] = "varchar"
		pg.catalogTypes[typeText] = "character varying(256)"
		pg.catalogTypes[typeNumeric] = "numeric(18,2)"
		return pg, nil
	case "snowflake":
		return dialect{
			name: adapter, database: "ANALYTICS", rawDatabase: "RAW", target: "DBT_PROD", upper: true,
			owner: "TRANSFORMER", table: "BASE TABLE", view: "VIEW", stats: "snowflake",
			yamlTypes:    [numTypes]string{"number(38,0)", "number(38,0)", "varchar", "number(18,2)", "timestamp_ntz", "date", "boolean"},
			catalogTypes: [numTypes]string{"NUMBER", "NUMBER", "TEXT", "NUMBER", "TIMESTAMP_NTZ", "DATE", "BOOLEAN"},
		}, nil
	case "bigquery":
		return dialect{
			name: adapter, database: "acme-analytics", rawDatabase: "acme-raw", target: "dbt_prod", quote: "`",
			table: "table", view: "view", stats: "bigquery",
			yamlTypes:    [numTypes]string{"int64", "int64", "string", "numeric", "timestamp", "date", "bool"},
			catalogTypes: [numTypes]string{"INT64", "INT64", "STRING", "NUMERIC", "TIMESTAMP", "DATE", "BOOL"},
		}, nil
	case "duckdb":
		return dialect{
			name: adapter, database: "jaffle", rawDatabase: "jaffle", target: "main", quote: `"`,
			table: "BASE TABLE", view: "VIEW",
			yamlTypes:    [numTypes]string{"integer", "bigint", "varchar", "decimal(18,2)", "timestamp", "date", "boolean"},
			catalogTypes: [numTypes]string{"INTEGER", "BIGINT", "VARCHAR", "DECIMAL(18,2)", "TIMESTAMP", "DATE", "BOOLEAN"},
		}, nil
	case "databricks":
		return dialect{
			name: adapter, database: "main", rawDatabase: "raw", target: "dbt_prod", quote: "`",
			owner: "dbt-cloud@acme.example", table: "table", view: "view",
			yamlTypes:    [numTypes]string{"int", "bigint", "string", "decimal(18,2)", "timestamp", "date", "boolean"},
			catalogTypes: [numTypes]string{"int", "bigint", "string", "decimal(18,2)", "timestamp", "date", "boolean"},
		}, nil
	}
	return dialect{}, fmt.Errorf("gen: unsupported adapter %q (want one of %s)", adapter, strings.Join(adapters(), ", "))
}

// fold spells a database or schema name the way this warehouse stores it.
func (d dialect) fold(s string) string {
	if d.upper {
		return strings.ToUpper(s)
	}
	return s
}

// schema is dbt's default generate_schema_name: target schema, then _custom.
func (d dialect) schema(custom string) string {
	if custom == "" {
		return d.target
	}
	return d.fold(d.target + "_" + custom)
}

// relation renders a relation name as dbt's adapter does.
func (d dialect) relation(database, schema, identifier string) string {
	q := d.quote
	return q + database + q + "." + q + schema + q + "." + q + identifier + q
}

// catalogName is a name as the warehouse's information schema reports it.
func (d dialect) catalogName(s string) string {
	if d.upper {
		return strings.ToUpper(s)
	}
	return s
}

// typeString is what dbt.type_string() compiles to.
func (d dialect) typeString() string { return d.yamlTypes[typeText] }

// centsToDollars is the compiled form of the project's cents_to_dollars macro.
func (d dialect) centsToDollars(col string) string {
	switch d.name {
	case "bigquery":
		return "round(cast((" + col + " / 100) as numeric), 2)"
	case "snowflake":
		return "(" + col + " / 100)::number(16, 2)"
	case "databricks":
		return "cast((" + col + " / 100) as decimal(16, 2))"
	}
	return "(" + col + " / 100)::numeric(16, 2)"
}

// dateTrunc is the compiled form of dbt.date_trunc(period, col).
func (d dialect) dateTrunc(period, col string) string {
	if d.name == "bigquery" {
		return "timestamp_trunc(cast(" + col + " as timestamp), " + period + ")"
	}
	return "date_trunc('" + period + "', " + col + ")"
}
