{#- How the lines a build of fct_sellout_weekly writes lack a delivered base price: 'none' (every line has one),
    'some' (fewer than half of them lack it) or 'most'. The lines are all of them (`relation` none, a full build)
    or those an incremental build of `relation` rewrites (sellout_lines_a_build_rewrites); raw lines, loaded or
    not (a line staging leaves out can only make the answer more cautious). Run when executing. -#}
{% macro sellout_base_price_gaps(relation) -%}
    {%- set query -%}
        {%- if relation is not none %}
        with {{ sellout_rewritten_weeks_ctes(relation) }}
        {%- endif %}
        select count(*) filter (where base_price is null) as without_base_price, count(*) as lines
        from {{ source('raw', 'sellout_lines') }}
        {%- if relation is not none %}
        where {{ sellout_lines_a_build_rewrites() }}
        {%- endif %}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {{ return('none' if row[0] == 0 else ('some' if 2 * row[0] < row[1] else 'most')) }}
{%- endmacro %}
