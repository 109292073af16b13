{#-
    Weekly sell-out, one row per (store_code, product_code, week_end_date): the deduplicated lines of
    stg_sellout_lines (latest delivery wins). Two sources delivering the same store/product/week is not
    expected; the grain test on this model fails if it happens rather than silently adding them up.

    `measure` says what the source counts ('units', or 'sales_value' for a value-only feed): forecast that
    column. A week without a delivered base price gets the highest price of the series' non-promoted weeks among
    the last `base_price_weeks` weeks (var, this week included), flagged by `base_price_derived`.
    `is_complete_week` is false for a daily feed's week with fewer days reported than it has.
-#}
with

lines as (

    select * from {{ ref('stg_sellout_lines') }}

),

recent_regular_price as (

    select
        *,
        max(case when not (feature or display or tpr_only or promotion) then price end) over (
            partition by source, store_code, product_code
            order by week_end_date
            range between interval '{{ var("base_price_weeks") - 1 }} weeks' preceding and current row
        ) as regular_price
    from lines

),

final as (

    select
        week_end_date,
        store_code,
        product_code,
        source,
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
