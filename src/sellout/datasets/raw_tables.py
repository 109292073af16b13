"""The tables ingestion writes: raw landing tables, rejected rows and the ingestion manifest.

dbt owns ``staging`` and ``marts``; the forecast tables are created by their catalog datasets and the run records
by ``run_records``. Everything here is created idempotently by ``ensure_schema`` before the first load, so a
fresh database needs no manual step.
"""

from __future__ import annotations

import hashlib

from sellout.canonical import CANONICAL_SELLOUT_COLUMNS, LINE_COLUMNS, MANIFEST_STATUSES

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
    status       text not null,
    reason       text,
    first_week   date,
    last_week    date,
    run_id       text not null,
    loaded_at    timestamptz not null default now()
);
create unique index if not exists ingested_files_loaded_sha256
    on ops.ingested_files (source, sha256) where status = 'loaded';

create table if not exists raw.sellout_lines (
    file_id       bigint not null,
    source        text not null,
    line_no       integer not null,
    week_end_date date not null,
    store_code    text not null,
    product_code  text not null,
    units         numeric(18, 3),
    sales_value   numeric(18, 4),
    price         numeric(18, 4),
    base_price    numeric(18, 4),
    feature       boolean not null default false,
    display       boolean not null default false,
    tpr_only      boolean not null default false
);
create index if not exists sellout_lines_file_id on raw.sellout_lines (file_id);
-- the weeks a delivery touched: staging reads them alone (dbt's incremental models, incremental tests). A BRIN
-- index: a file's lines are one or a few weeks, stored together, and a BRIN costs a load next to nothing (a
-- b-tree on (source, week_end_date) took bench-ingest's full history load from 5.4 to 6.1 s, the BRIN 4.5 s)
create index if not exists sellout_lines_week on raw.sellout_lines using brin (week_end_date);
-- columns added since the table was first made: a database of an earlier version gets them once (checked first,
-- so that a current database takes no lock)
do $$
begin
    if (
        select count(*) from information_schema.columns
        where table_schema = 'raw' and table_name = 'sellout_lines'
          and column_name in ('promotion', 'store_name', 'product_description', 'measure', 'is_return',
                              'days_reported', 'days_closed', 'is_complete_week')
    ) < 8 or exists (
        select 1 from information_schema.columns
        where table_schema = 'raw' and table_name = 'sellout_lines' and column_name = 'units'
          and is_nullable = 'NO'
    ) then
        alter table raw.sellout_lines
            add column if not exists promotion boolean not null default false,
            add column if not exists store_name text,
            add column if not exists product_description text,
            add column if not exists measure text not null default 'units',
            add column if not exists is_return boolean not null default false,
            add column if not exists days_reported smallint,
            add column if not exists days_closed smallint,
            add column if not exists is_complete_week boolean not null default true,
            alter column units drop not null;  -- a value-only feed carries no units
    end if;
end $$;

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


def status_constraint_ddl(statuses: tuple[str, ...] = MANIFEST_STATUSES) -> str:
    """The manifest's status check, named by a digest of the statuses: a database whose constraint allows another
    list (an earlier version's, or the inline check tables used to have) has it replaced, once."""
    digest = hashlib.sha256("|".join(statuses).encode()).hexdigest()[:10]
    name = f"ingested_files_status_{digest}"
    allowed = ", ".join("'" + status.replace("'", "''") + "'" for status in statuses)
    return f"""
do $$
declare
    stale record;
begin
    if not exists (
        select 1 from pg_constraint
        where conrelid = 'ops.ingested_files'::regclass and conname = '{name}'
    ) then
        for stale in
            select conname from pg_constraint
            where conrelid = 'ops.ingested_files'::regclass and contype = 'c'
              and pg_get_constraintdef(oid) like '%status%'
        loop
            execute format('alter table ops.ingested_files drop constraint %I', stale.conname);
        end loop;
        alter table ops.ingested_files add constraint {name} check (status in ({allowed}));
    end if;
end $$;
"""


# What raw.sellout_lines fills in for a column a COPY leaves out: a frame whose every value of a column is that
# column's default does not send it (less to encode and to parse; a weekly unit feed sends no daily columns).
SELLOUT_DEFAULTS: dict[str, object] = {
    **dict.fromkeys(("feature", "display", "tpr_only", "promotion", "is_return"), False),
    "is_complete_week": True,
    "measure": "units",
    **dict.fromkeys(
        (
            "sales_value",
            "price",
            "base_price",
            "store_name",
            "product_description",
            "days_reported",
            "days_closed",
        ),
        None,
    ),
}
RAW_SELLOUT_COLUMNS = ["file_id", "source", "line_no", *CANONICAL_SELLOUT_COLUMNS, *LINE_COLUMNS]
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
    """Create the raw and ops tables when they do not exist yet, and bring older ones up to date."""
    conn.execute(DDL)
    conn.execute(status_constraint_ddl())
