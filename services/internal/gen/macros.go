package gen

import "strings"

// builtinMacros names dbt's global macros; each becomes a dispatcher, and
// most get a default__ implementation and some an adapter-specific one.
func builtinMacros() []string {
	return []string{
		"run_hooks", "make_hook_config", "before_begin", "in_transaction", "after_commit", "set_sql_header",
		"should_full_refresh", "should_store_failures", "statement", "noop_statement", "run_query",
		"convert_datetime", "dates_in_range", "partition_range", "py_current_timestring", "is_incremental",
		"get_where_subquery", "test_unique", "test_not_null", "test_accepted_values", "test_relationships",
		"get_test_sql", "get_unit_test_sql", "get_fixture_sql", "get_expected_sql", "format_row",
		"create_schema", "drop_schema", "create_table_as", "get_create_table_as_sql", "create_view_as",
		"get_create_view_as_sql", "get_replace_sql", "get_rename_sql", "drop_relation", "truncate_relation",
		"rename_relation", "get_columns_in_relation", "alter_column_type", "alter_relation_add_remove_columns",
		"get_columns_in_query", "list_relations_without_caching", "list_schemas", "check_schema_exists",
		"current_timestamp", "current_timestamp_backcompat", "current_timestamp_in_utc_backcompat",
		"snapshot_get_time", "get_show_grant_sql", "get_grant_sql", "get_revoke_sql", "apply_grants",
		"get_catalog", "get_catalog_relations", "get_relation_last_modified", "collect_freshness",
		"persist_docs", "alter_column_comment", "alter_relation_comment", "type_string", "type_timestamp",
		"type_float", "type_numeric", "type_bigint", "type_int", "type_boolean", "date_trunc", "dateadd",
		"datediff", "safe_cast", "hash", "concat", "split_part", "listagg", "bool_or", "any_value",
		"array_construct", "array_append", "array_concat", "cast_bool_to_text", "last_day", "position",
		"replace", "right", "length", "escape_single_quotes", "string_literal", "except", "intersect",
		"generate_series", "get_powers_of_two", "date_spine", "get_incremental_append_sql",
		"get_incremental_merge_sql", "get_incremental_delete_insert_sql", "get_incremental_default_sql",
		"get_merge_sql", "get_delete_insert_merge_sql", "get_quoted_csv", "load_csv_rows", "create_csv_table",
		"reset_csv_table", "get_binding_char", "get_batch_size", "snapshot_staging_table",
		"snapshot_check_strategy", "snapshot_timestamp_strategy", "build_snapshot_table", "create_columns",
		"post_snapshot", "generate_schema_name", "generate_alias_name", "generate_database_name",
		"materialization_table_default", "materialization_view_default",
		"materialization_incremental_default", "materialization_seed_default", "materialization_snapshot_default",
		"materialization_test_default", "materialization_unit_default",
	}
}

func (p *plan) writeMacros(o *object) {
	pkg := "dbt_" + p.d.name
	k := int32(0)
	emit := func(name, pkgName, path, sql string, deps []string) {
		uid := "macro." + pkgName + "." + name
		o.member(uid, macro{
			Name: name, ResourceType: "macro", PackageName: pkgName, Path: path, OriginalFilePath: path,
			UniqueID: uid, MacroSQL: sql, DependsOn: macroDepends{Macros: deps}, Meta: object0{},
			Docs: docsConfig{Show: true}, Arguments: []any{}, CreatedAt: p.createdAt(k) - 5,
		})
		k++
	}
	for i, name := range builtinMacros() {
		path := "macros/" + macroFolder(name) + "/" + name + ".sql"
		if strings.HasPrefix(name, "materialization_") || strings.HasPrefix(name, "default__") {
			emit(name, "dbt", path, "{% macro "+name+"() %}\n  {#- built-in implementation -#}\n{% endmacro %}", []string{})
			continue
		}
		emit(name, "dbt", path, "{% macro "+name+"() -%}\n  {{ return(adapter.dispatch('"+name+"', 'dbt')(**kwargs)) }}\n{%- endmacro %}",
			[]string{"macro.dbt.default__" + name})
		emit("default__"+name, "dbt", path, "{% macro default__"+name+"() -%}\n  {#- default implementation of "+name+" -#}\n{%- endmacro %}", []string{})
		if i%3 == 0 {
			emit(p.d.name+"__"+name, pkg, "macros/adapters.sql", "{% macro "+p.d.name+"__"+name+"() -%}\n  {#- "+p.d.name+" flavour -#}\n{%- endmacro %}", []string{})
		}
	}
	pr := p.opts.ProjectName
	emit("cents_to_dollars", pr, "macros/cents_to_dollars.sql",
		"{% macro cents_to_dollars(column_name) -%}\n    {{ return(adapter.dispatch('cents_to_dollars')(column_name)) }}\n{%- endmacro %}",
		[]string{"macro." + pr + ".default__cents_to_dollars"})
	emit("default__cents_to_dollars", pr, "macros/cents_to_dollars.sql",
		"{% macro default__cents_to_dollars(column_name) -%}\n    ({{ column_name }} / 100)::numeric(16, 2)\n{%- endmacro %}", []string{})
	emit("limit_data_in_dev", pr, "macros/limit_data_in_dev.sql",
		"{% macro limit_data_in_dev(column_name, dev_days_of_data=3) %}\n{% if target.name == 'dev' %}\nwhere {{ column_name }} >= {{ dbt.dateadd('day', -dev_days_of_data, dbt.current_timestamp()) }}\n{% endif %}\n{% endmacro %}",
		[]string{"macro.dbt.dateadd", "macro.dbt.current_timestamp"})
	o.close()
}

func macroFolder(name string) string {
	switch {
	case strings.HasPrefix(name, "test_"), strings.HasPrefix(name, "get_test"), strings.HasSuffix(name, "_subquery"):
		return "generic_test_sql"
	case strings.HasPrefix(name, "materialization_"), strings.HasPrefix(name, "snapshot"), strings.Contains(name, "incremental"):
		return "materializations"
	case strings.HasPrefix(name, "type_"), strings.HasPrefix(name, "date"), strings.HasPrefix(name, "array"):
		return "utils"
	}
	return "adapters"
}
