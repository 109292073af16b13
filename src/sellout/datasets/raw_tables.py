"""The tables ingestion writes: raw landing tables, rejected rows and the ingestion manifest.

dbt owns ``staging`` and ``marts``; the forecast tables are created by their catalog datasets and the run records
by ``run_records``. Everything here is created idempotently by ``ensure_schema`` before the first load, so a
fresh database needs no manual step.
"""

from __future__ import annotations

from sellout.canonical import CANONICAL_SELLOUT_COLUMNS

DDL = """
create schema if not exists raw;
create schema if not exists ops;

create table if not exists ops.ingested_files (
    file_id      bigserial primary key,
    source       text not null,
    kind         text not null check (kind in ('sellout', 'stores', 'products')),
    file_name    text not null,
    sha256       text not null,
    size_bytes   bigint not null,
    rows_in_file bigint,
    rows_loaded  bigint,
    rows_rejected bigint,
    status       text not null check (status in ('loaded', 'quarantined', 'duplicate')),
    reason       text,
    first_week   date,
    last_week    date,
    run_id       text not null,
    loaded_at    timestamptz not null default now()
);
-- databases made before 'duplicate' was a status get the wider check once
do $$
begin
    if exists (
        select 1 from pg_constraint
        where conname = 'ingested_files_status_check'
          and pg_get_constraintdef(oid) not like '%duplicate%'
    ) then
        alter table ops.ingested_files drop constraint ingested_files_status_check;
        alter table ops.ingested_files add constraint ingested_files_status_check
            check (status in ('loaded', 'quarantined', 'duplicate'));
    end if;
end $$;
create unique index if not exists ingested_files_loaded_sha256
    on ops.ingested_files (source, sha256) where status = 'loaded';

create table if not exists raw.sellout_lines (
    file_id       bigint not null,
    source        text not null,
    line_no       integer not null,
    week_end_date date not null,
    store_code    text not null,
    product_code  text not null,
    units         numeric(18, 3) not null,
    sales_value   numeric(18, 4),
    price         numeric(18, 4),
    base_price    numeric(18, 4),
    feature       boolean not null default false,
    display       boolean not null default false,
    tpr_only      boolean not null default false
);
create index if not exists sellout_lines_file_id on raw.sellout_lines (file_id);

create table if not exists raw.rejected_rows (
    file_id     bigint not null,
    source      text not null,
    file_name   text not null,
    line_no     integer not null,
    reason      text not null,
    raw_values  text
);
create index if not exists rejected_rows_file_id on raw.rejected_rows (file_id);

create table if not exists raw.stores (
    source      text not null,
    store_code  text not null,
    store_name  text,
    city        text,
    state       text,
    segment     text,
    sales_area  numeric,
    primary key (source, store_code)
);

create table if not exists raw.products (
    source        text not null,
    product_code  text not null,
    description   text,
    manufacturer  text,
    category      text,
    sub_category  text,
    product_size  text,
    primary key (source, product_code)
);
"""

RAW_SELLOUT_COLUMNS = ["file_id", "source", "line_no", *CANONICAL_SELLOUT_COLUMNS]
STORE_COLUMNS = ["source", "store_code", "store_name", "city", "state", "segment", "sales_area"]
REJECTED_COLUMNS = ["file_id", "source", "file_name", "line_no", "reason", "raw_values"]
PRODUCT_COLUMNS = [
    "source",
    "product_code",
    "description",
    "manufacturer",
    "category",
    "sub_category",
    "product_size",
]


def ensure_schema(conn) -> None:
    """Create the raw and ops tables when they do not exist yet."""
    conn.execute(DDL)
