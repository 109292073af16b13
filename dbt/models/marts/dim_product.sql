{#-
    One row per product_code. When several sources deliver the same product, each attribute takes the first
    non-null value (sources in alphabetical order), so a source with gaps does not blank out another's data.
-#}
with

products as (

    select * from {{ ref('stg_products') }}

),

deduplicated as (

    select
        product_code,
        {{ first_non_null('description') }} as description,
        {{ first_non_null('manufacturer') }} as manufacturer,
        {{ first_non_null('category') }} as category,
        {{ first_non_null('sub_category') }} as sub_category,
        {{ first_non_null('product_size') }} as product_size
    from products
    group by product_code

)

select * from deduplicated
