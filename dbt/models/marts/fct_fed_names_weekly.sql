{#-
    The names a feed carries beside its codes, one row per (source, week_end_date, kind, code): kind 'store'
    (store_name) or 'product' (product_description), the week's name (null if its lines carry none) and the
    file the week came from. dim_store and dim_product take each code's latest non-null name from here: a few
    rows per code and week instead of every sell-out line.

    Incremental like fct_sellout_weekly: a run rebuilds only the (source, week)s that a file loaded since the last
    build touched, whole (delete+insert on source and week), so a corrected re-delivery replaces the names of its
    weeks; `--full-refresh` (the run's full mode) rebuilds everything.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['source', 'week_end_date'],
        incremental_strategy='delete+insert',
    )
}}
with

{% if is_incremental() %}
touched as (

    {{ sellout_touched_weeks(this) }}

),
{% endif %}

lines as (

    select source, week_end_date, file_id, store_code, product_code, store_name, product_description
    from {{ ref('stg_sellout_lines') }}
    {% if is_incremental() %}
    {#- the scalar bound reaches below the staging view's window functions; the pairs are then exact -#}
    where week_end_date >= (select min(week_end_date) from touched)
      and (source, week_end_date) in (select source, week_end_date from touched)
    {% endif %}

),

names as (

    select source, week_end_date, 'store' as kind, store_code as code, max(store_name) as name,
        max(file_id) as file_id
    from lines
    group by source, week_end_date, store_code

    union all

    select source, week_end_date, 'product' as kind, product_code as code, max(product_description) as name,
        max(file_id) as file_id
    from lines
    group by source, week_end_date, product_code

)

select * from names
