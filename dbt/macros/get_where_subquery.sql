{#-
    The rows a data test reads (dbt's own macro, overridden). Besides a test's `where` config: when
    SELLOUT_DBT_TESTS_RUN_ID is set (an incremental run), the tests of the sell-out tables read only what no passing
    `dbt test` has read yet: the files loaded, and the fact rows built, by runs without a succeeded dbt_test node
    (this run, and an earlier run whose tests failed). Rows a passing test read do not change until a delivery
    touches their (source, week), and then they are built again. Unset (full mode, dbt by hand): every row.

    - raw.sellout_lines: the lines of those files;
    - fct_sellout_weekly: the rows those runs built (`built_by_run`), as a list of literals, which the index on
      built_by_run reads without scanning the table (`not in (subquery)` read every row, once per test).
    (stg_sellout_lines has no tests: its rows are the fact table's.)
-#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {#- env_var read only when executing: read while parsing, dbt would parse every test again when it changes -#}
    {%- if execute and env_var('SELLOUT_DBT_TESTS_RUN_ID', '') -%}
        {%- set scope = sellout_untested_scope(relation) -%}
        {%- if scope -%}
            {%- do conditions.append(scope) -%}
        {%- endif -%}
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


{#- the runs whose rows a passing dbt test has read (none where no run was recorded: dbt called without Kedro) -#}
{% macro sellout_tested_runs() -%}
    {%- if adapter.get_relation(database=target.database, schema='ops', identifier='node_runs') is none -%}
        (select null::text where false)
    {%- else -%}
        (select run_id from ops.node_runs where node = 'dbt_test' and status = 'succeeded')
    {%- endif -%}
{%- endmacro %}


{#- the files no passing dbt test has read: loaded by a run without a succeeded dbt_test -#}
{% macro sellout_untested_files() -%}
    (select file_id from ops.ingested_files
     where kind = 'sellout' and status = 'loaded' and run_id not in {{ sellout_tested_runs() }})
{%- endmacro %}


{% macro sellout_untested_scope(relation) -%}
    {%- if relation.identifier == 'fct_sellout_weekly' -%}
        {%- do return(sellout_untested_builds(relation)) -%}
    {%- elif relation.identifier == 'sellout_lines' and relation.schema == 'raw' -%}
        {%- do return('file_id in ' ~ sellout_untested_files()) -%}
    {%- endif -%}
    {%- do return(none) -%}
{%- endmacro %}


{#- The fact rows built by runs no passing test has read, as `built_by_run in (literals)`: the table's distinct
    built_by_run values come from its index (a loose index scan: one probe per value, not one row per row). -#}
{% macro sellout_untested_builds(relation) -%}
    {%- set untested = run_query(
        'with recursive builds as ('
        ~ ' (select built_by_run from ' ~ relation ~ ' where built_by_run is not null'
        ~ ' order by built_by_run limit 1)'
        ~ ' union all'
        ~ ' select (select t.built_by_run from ' ~ relation ~ ' t where t.built_by_run > builds.built_by_run'
        ~ ' order by t.built_by_run limit 1) from builds where builds.built_by_run is not null'
        ~ ') select built_by_run from builds where built_by_run is not null'
        ~ ' and built_by_run not in ' ~ sellout_tested_runs()) -%}
    {%- if untested.rows | length == 0 -%}
        {%- do return('false') -%}
    {%- endif -%}
    {%- set runs = [] -%}
    {%- for row in untested.rows -%}
        {%- do runs.append("'" ~ (row[0] | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {%- do return('built_by_run in (' ~ runs | join(', ') ~ ')') -%}
{%- endmacro %}
