{#-
    Weekly sell-out, one row per (store_code, product_code, week_end_date): the deduplicated lines of
    stg_sellout_lines (latest delivery wins). Two sources delivering the same store/product/week is not
    expected; the grain test on this model fails if it happens rather than silently adding them up.

    `measure` says what the source counts ('units', or 'sales_value' for a value-only feed): forecast that
    column. A week without a delivered base price gets the highest price of the series' non-promoted weeks among
    the last `base_price_weeks` weeks (var, this week included), flagged by `base_price_derived`. That needs each
    series' weeks in order: a sort of the lines by their codes and a sliding maximum, about half of this model's
    query time on the whole dunnhumby set, whose feed lacks the base price on 185 of its 525,000 lines. So
    the build first counts the lines without one (macros/base_price_gaps.sql): none, and it derives nothing;
    some, and it derives the base price of the series that lack it, in order, and passes the others through; most,
    and it derives every series' in one pass (the split's bookkeeping costs more than it saves). The result is
    the same.
    `is_complete_week` is false for a daily feed's week with fewer days reported than it has.

    Incremental: a run rebuilds the (source, week)s that a file loaded since the last build touched (a file with
    a file_id above the highest one in this table, which an index on file_id finds without reading the table)
    and the weeks whose derived base price looks back at one of them (macros/touched_weeks.sql), and replaces
    those weeks whole (delete+insert on source and week, which the index on the grain finds by its week).
    The grain's index is (week_end_date, store_code, product_code): the week first, so that building it sorts
    dates before codes, not one source's name over and over (the index on (source, week_end_date) took 22-23 s
    to build on a table of 10.5 million rows of one source, (week_end_date, source) 11-12.5 s); the grain test
    reads it in order, a group at a time, where grouping every row of the table by the grain sorted or hashed
    them all (at 5 times dunnhumby, 2.6 million rows: 0.74 s against 4.5 s; its build took 2.1 s against 1.1 s
    for (week_end_date, source)). Where it derives a base price, the weeks it looks back at before the first one
    rewritten come from this table: its rows of a week no file touched since are that week's latest lines, so
    staging's window over every line of those weeks is not run again (at 20 times dunnhumby, a new week's build read 852,600 lines through it for
    66,540 written). `--full-refresh` (the run's full mode) rebuilds everything. `built_by_run` is indexed: an
    incremental run's tests read only the rows of runs no passing test has read
    (macros/get_where_subquery.sql). The incomplete weeks (the catalog's `incomplete_weeks`) have an index of
    their own: a read of them does not scan the table.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['source', 'week_end_date'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook=[
            "{{ sellout_ensure_index(this, ['built_by_run']) }}",
            "{{ sellout_ensure_index(this, ['week_end_date', 'store_code', 'product_code']) }}",
            "{{ sellout_ensure_index(this, ['file_id']) }}",
            "{{ sellout_ensure_index(this, ['week_end_date', 'source'], where='is_complete_week = false') }}",
        ],
    )
}}
{#- a table built before it had file_id (an earlier version of this model) is rebuilt whole, once -#}
{%- set since_last_build = is_incremental()
    and 'file_id' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
{%- set base_price_gaps = sellout_base_price_gaps(this if since_last_build else none) if execute else 'most' -%}
with

{% if since_last_build %}
{{ sellout_rewritten_weeks_ctes(this) }},
{% endif %}

{%- set columns -%}
        week_end_date, store_code, product_code, source, file_id, measure, units, sales_value, price, base_price,
        feature, display, tpr_only, promotion, is_return, days_reported, days_closed, is_complete_week
{%- endset %}

rewritten as (

    select {{ columns }}
    from {{ ref('stg_sellout_lines') }}
    {% if since_last_build %}
    where {{ sellout_lines_a_build_rewrites() }}
    {% endif %}

),

{% if base_price_gaps == 'some' -%}
series_without_base_price as (

    select distinct source, store_code, product_code
    from rewritten
    where base_price is null

),

{% endif -%}
lines as (

    select * from rewritten
    {%- if since_last_build and base_price_gaps != 'none' %}

    union all

    {# the weeks before the first one rewritten that the derived base price looks back at, as built; the final
       filter leaves them out #}
    select {{ columns }}
    from {{ this }}
    where source in (select source from rewritten_weeks)
      and week_end_date >= (select min(week_end_date) from rewritten_weeks)
                           - interval '{{ var("base_price_weeks") - 1 }} weeks'
      and week_end_date < (select min(week_end_date) from rewritten_weeks)
      {%- if base_price_gaps == 'some' %}
      and (source, store_code, product_code) in (select * from series_without_base_price)
      {%- endif %}
    {%- endif %}

),

recent_regular_price as (

    {% if base_price_gaps == 'none' -%}
    select *, cast(null as numeric) as regular_price
    from lines
    {%- else -%}
    select
        *,
        max(case when not (feature or display or tpr_only or promotion) then price end) over (
            partition by source, store_code, product_code
            order by week_end_date
            range between interval '{{ var("base_price_weeks") - 1 }} weeks' preceding and current row
        ) as regular_price
    from lines
    {%- if base_price_gaps == 'some' %}
    where (source, store_code, product_code) in (select * from series_without_base_price)

    union all

    select *, cast(null as numeric) as regular_price
    from lines
    {#- not exists, an anti-join: `not in` turns into a scan of the list per line once the list outgrows work_mem #}
    where not exists (
        select from series_without_base_price as without
        where without.source = lines.source
          and without.store_code = lines.store_code
          and without.product_code = lines.product_code
    )
    {%- endif %}
    {%- endif %}

),

final as (

    select
        week_end_date,
        store_code,
        product_code,
        source,
        file_id,
        {#- read when executing only: an env_var read while parsing makes dbt parse the model again each run #}
        cast('{{ env_var("SELLOUT_DBT_RUN_ID", "") if execute else "" }}' as text) as built_by_run,
        measure,
        units,
        sales_value,
        price,
        coalesce(base_price, regular_price) as base_price,
        (base_price is null and regular_price is not null) as base_price_derived,
        feature,
        display,
        tpr_only,
        promotion,
        is_return,
        days_reported,
        days_closed,
        is_complete_week
    from recent_regular_price

)

select * from final
{% if since_last_build %}
where (source, week_end_date) in (select source, week_end_date from rewritten_weeks)
{% endif %}
