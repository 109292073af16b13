{#-
    dbt's delete+insert, with the new rows' temporary table analysed first. Without statistics PostgreSQL
    guesses that table's keys cover thousands of (source, week)s and deletes by reading the whole target (at 20
    times dunnhumby, 2.1-3.0 s to delete one week's 66,540 rows of 10.5 million); with them it reads the target's
    index on its keys (fct_sellout_weekly's post-hook) for the weeks it replaces. Overrides the postgres
    implementation of dbt's dispatched `get_delete_insert_merge_sql`; the statements are dbt's own.
-#}
{% macro postgres__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    analyze {{ source }};
    {{ default__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) }}
{%- endmacro %}
