{#- The (source, week_end_date)s of the sell-out lines loaded since `relation` was last built: the lines of loaded
    files whose file_id is above the highest in `relation`. -#}
{% macro sellout_touched_weeks(relation) -%}
    select distinct lines.source, lines.week_end_date
    from {{ source('raw', 'sellout_lines') }} as lines
    inner join {{ source('ops', 'ingested_files') }} as files
        on files.file_id = lines.file_id and files.status = 'loaded'
    where lines.file_id > (select coalesce(max(file_id), 0) from {{ relation }})
{%- endmacro %}


{#- The (source, week_end_date)s an incremental build of `relation` (fct_sellout_weekly) rewrites, given a CTE
    `touched` (sellout_touched_weeks): the weeks touched, and the weeks of the same source built up to
    base_price_weeks - 1 after one of them, whose derived base price looks back at it (a corrected week moves it):
    what a full rebuild would change. A new week has no such weeks after it. -#}
{% macro sellout_weeks_a_build_rewrites(relation) -%}
    select source, week_end_date from touched
    union
    {#- lateral: an index range of `relation` per week touched (a join read the whole index: 4 s at 20x) #}
    select later.source, later.week_end_date
    from touched
    cross join lateral (
        select distinct built.source, built.week_end_date
        from {{ relation }} as built
        where built.source = touched.source
          and built.week_end_date > touched.week_end_date
          and built.week_end_date <= touched.week_end_date + interval '{{ var("base_price_weeks") - 1 }} weeks'
    ) as later
{%- endmacro %}


{#- The lines an incremental build of fct_sellout_weekly rewrites, given a CTE `rewritten_weeks`
    (sellout_weeks_a_build_rewrites): their sources, from the first to the last week rewritten. Plain conditions
    on the source and the week, which PostgreSQL applies below stg_sellout_lines' window (partitioned by both):
    only those weeks' lines are read. -#}
{% macro sellout_lines_a_build_rewrites() -%}
    source in (select source from rewritten_weeks)
      and week_end_date between (select min(week_end_date) from rewritten_weeks)
                            and (select max(week_end_date) from rewritten_weeks)
{%- endmacro %}


{#- The CTEs `touched` and `rewritten_weeks` of an incremental build of `relation`, for a `with` clause: what the
    model and its base-price count (macros/base_price_gaps.sql) both read. -#}
{% macro sellout_rewritten_weeks_ctes(relation) -%}
touched as (

    {{ sellout_touched_weeks(relation) }}

),

rewritten_weeks as (

    {{ sellout_weeks_a_build_rewrites(relation) }}

)
{%- endmacro %}
