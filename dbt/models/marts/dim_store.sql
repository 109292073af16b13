{#-
    One row per store_code. When several sources deliver the same store, each attribute takes the first
    non-null value (sources in alphabetical order), so a source with gaps does not blank out another's data.
-#}
with

stores as (

    select * from {{ ref('stg_stores') }}

),

deduplicated as (

    select
        store_code,
        {{ first_non_null('store_name') }} as store_name,
        {{ first_non_null('city') }} as city,
        {{ first_non_null('state') }} as state,
        {{ first_non_null('segment') }} as segment,
        {{ first_non_null('sales_area') }} as sales_area
    from stores
    group by store_code

)

select * from deduplicated
