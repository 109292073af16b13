{#- Typed store master data, one row per (source, store_code); text fields trimmed, empty strings as null. -#}
with

source as (

    select * from {{ source('raw', 'stores') }}

),

renamed as (

    select

        ----------  ids
        cast(source as text) as source,
        cast(trim(store_code) as text) as store_code,

        ---------- text
        nullif(trim(store_name), '') as store_name,
        nullif(trim(city), '') as city,
        nullif(trim(state), '') as state,
        nullif(trim(segment), '') as segment,

        ---------- numerics
        cast(sales_area as numeric) as sales_area

    from source

)

select * from renamed
