{#- The (source, week_end_date)s of the sell-out lines loaded since `relation` was last built: the lines of loaded
    files whose file_id is above the highest in `relation`. -#}
{% macro sellout_touched_weeks(relation) -%}
    select distinct lines.source, lines.week_end_date
    from {{ source('raw', 'sellout_lines') }} as lines
    inner join {{ source('ops', 'ingested_files') }} as files
        on files.file_id = lines.file_id and files.status = 'loaded'
    where lines.file_id > (select coalesce(max(file_id), 0) from {{ relation }})
{%- endmacro %}


{#- The lines an incremental build of fct_sellout_weekly reads, given a CTE `touched` (sellout_touched_weeks): the
    sources touched, from base_price_weeks before the first week touched (the derived base price looks back). -#}
{% macro sellout_lines_a_build_reads() -%}
    source in (select source from touched)
      and week_end_date >= (select min(week_end_date) from touched)
          - interval '{{ var("base_price_weeks") - 1 }} weeks'
{%- endmacro %}
