{#-
    The rows a data test reads (dbt's own macro, overridden). Besides a test's `where` config: when
    SELLOUT_DBT_TESTS_RUN_ID is set (an incremental run), the tests of fct_sellout_weekly read only the rows that run
    built (`built_by_run`); the rows of other weeks were tested when they were built. Unset (full mode, dbt by hand):
    every row.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set run_id = env_var('SELLOUT_DBT_TESTS_RUN_ID', '') -%}
    {%- if run_id and relation.identifier == 'fct_sellout_weekly' -%}
        {%- do conditions.append("built_by_run = '" ~ (run_id | replace("'", "''")) ~ "'") -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
