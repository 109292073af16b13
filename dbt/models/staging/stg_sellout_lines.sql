{#-
    Typed sell-out lines from loaded files only. A delivery replaces whole weeks: for each (source, week) only
    the rows of the latest file (highest file_id) that contains that week count, so a corrected re-delivery
    replaces that week's earlier rows (including rows it no longer has), and a late file for an old week adds it.
-#}
with

source as (

    select * from {{ source('raw', 'sellout_lines') }}

),

loaded_files as (

    select file_id
    from {{ source('ops', 'ingested_files') }}
    where status = 'loaded'

),

renamed as (

    select

        ----------  ids
        cast(source.file_id as bigint) as file_id,
        cast(source.source as text) as source,
        cast(source.line_no as integer) as line_no,
        cast(trim(source.store_code) as text) as store_code,
        cast(trim(source.product_code) as text) as product_code,

        ---------- numerics
        cast(source.units as numeric(18, 3)) as units,
        cast(source.sales_value as numeric(18, 4)) as sales_value,
        cast(source.price as numeric(18, 4)) as price,
        cast(source.base_price as numeric(18, 4)) as base_price,

        ---------- booleans
        coalesce(source.feature, false) as feature,
        coalesce(source.display, false) as display,
        coalesce(source.tpr_only, false) as tpr_only,

        ---------- dates
        cast(source.week_end_date as date) as week_end_date

    from source
    inner join loaded_files on source.file_id = loaded_files.file_id

),

ranked as (

    select
        *,
        max(file_id) over (partition by source, week_end_date) as latest_file_id,
        row_number() over (
            partition by source, store_code, product_code, week_end_date
            order by file_id desc, line_no desc
        ) as delivery_rank
    from renamed

),

latest as (

    select
        file_id,
        source,
        line_no,
        store_code,
        product_code,
        units,
        sales_value,
        price,
        base_price,
        feature,
        display,
        tpr_only,
        week_end_date
    from ranked
    where file_id = latest_file_id and delivery_rank = 1

)

select * from latest
