{#-
    Weekly sell-out, one row per (store_code, product_code, week_end_date): the deduplicated lines of
    stg_sellout_lines (latest delivery wins). Two sources delivering the same store/product/week is not
    expected; the grain test on this model fails if it happens rather than silently adding them up.
-#}
with

lines as (

    select * from {{ ref('stg_sellout_lines') }}

),

final as (

    select
        week_end_date,
        store_code,
        product_code,
        source,
        units,
        sales_value,
        price,
        base_price,
        feature,
        display,
        tpr_only
    from lines

)

select * from final
