{#-
    One row per store_code: every store the sell-out lines name (fct_fed_names_weekly: its names week by week),
    and every store of the master data. A source without a store master file still has its stores here (with the
    latest name its feed carries, if any); a master file adds its attributes and wins over the feed's name. When
    several sources deliver the same store, each attribute takes the first non-null value (sources in
    alphabetical order).
-#}
with

stores as (

    select * from {{ ref('stg_stores') }}

),

fed as (

    select
        source,
        code as store_code,
        (array_agg(name order by week_end_date desc) filter (where name is not null))[1] as store_name
    from {{ ref('fct_fed_names_weekly') }}
    where kind = 'store'
    group by source, code

),

combined as (

    select
        coalesce(stores.source, fed.source) as source,
        coalesce(stores.store_code, fed.store_code) as store_code,
        coalesce(stores.store_name, fed.store_name) as store_name,
        stores.city,
        stores.state,
        stores.segment,
        stores.sales_area,
        stores.store_code is not null as in_master_data
    from stores
    full outer join fed
        on stores.source = fed.source and stores.store_code = fed.store_code

),

deduplicated as (

    select
        store_code,
        {{ first_non_null('store_name') }} as store_name,
        {{ first_non_null('city') }} as city,
        {{ first_non_null('state') }} as state,
        {{ first_non_null('segment') }} as segment,
        {{ first_non_null('sales_area') }} as sales_area,
        bool_or(in_master_data) as has_master_data
    from combined
    group by store_code

)

select * from deduplicated
