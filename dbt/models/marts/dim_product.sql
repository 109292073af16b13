{#-
    One row per product_code: every product the sell-out lines name (fct_fed_names_weekly: its descriptions week
    by week), and every product of the master data. A source without a product master file still has its
    products here (with the latest description its feed carries, if any); a master file adds its attributes and
    wins over the feed's description. When several sources deliver the same product, each attribute takes the
    first non-null value (sources in alphabetical order).
-#}
with

products as (

    select * from {{ ref('stg_products') }}

),

fed as (

    select
        source,
        code as product_code,
        (array_agg(name order by week_end_date desc) filter (where name is not null))[1] as description
    from {{ ref('fct_fed_names_weekly') }}
    where kind = 'product'
    group by source, code

),

combined as (

    select
        coalesce(products.source, fed.source) as source,
        coalesce(products.product_code, fed.product_code) as product_code,
        coalesce(products.description, fed.description) as description,
        products.manufacturer,
        products.category,
        products.sub_category,
        products.product_size,
        products.product_code is not null as in_master_data
    from products
    full outer join fed
        on products.source = fed.source and products.product_code = fed.product_code

),

deduplicated as (

    select
        product_code,
        {{ first_non_null('description') }} as description,
        {{ first_non_null('manufacturer') }} as manufacturer,
        {{ first_non_null('category') }} as category,
        {{ first_non_null('sub_category') }} as sub_category,
        {{ first_non_null('product_size') }} as product_size,
        bool_or(in_master_data) as has_master_data
    from combined
    group by product_code

)

select * from deduplicated
