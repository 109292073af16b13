{#- Typed product master data, one row per (source, product_code); text fields trimmed, empty strings as null. -#}
with

source as (

    select * from {{ source('raw', 'products') }}

),

renamed as (

    select

        ----------  ids
        cast(source as text) as source,
        cast(trim(product_code) as text) as product_code,

        ---------- text
        nullif(trim(description), '') as description,
        nullif(trim(manufacturer), '') as manufacturer,
        nullif(trim(category), '') as category,
        nullif(trim(sub_category), '') as sub_category,
        nullif(trim(product_size), '') as product_size

    from source

)

select * from renamed
