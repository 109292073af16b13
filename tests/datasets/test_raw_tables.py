"""The raw and ops tables: created from nothing, and brought up to date from an earlier version's."""

from __future__ import annotations

import psycopg
import pytest

from sellout.canonical import MANIFEST_STATUSES
from sellout.datasets import raw_tables

OLD_DDL = """
create schema raw; create schema ops;
create table ops.ingested_files (
    file_id bigserial primary key, source text not null, kind text not null, file_name text not null,
    sha256 text not null, size_bytes bigint not null, rows_in_file bigint, rows_loaded bigint,
    rows_rejected bigint, status text not null check (status in ('loaded', 'quarantined')), reason text,
    first_week date, last_week date, run_id text not null, loaded_at timestamptz not null default now()
);
create table raw.sellout_lines (
    file_id bigint not null, source text not null, line_no integer not null, week_end_date date not null,
    store_code text not null, product_code text not null, units numeric(18, 3) not null,
    sales_value numeric(18, 4), price numeric(18, 4), base_price numeric(18, 4),
    feature boolean not null default false, display boolean not null default false,
    tpr_only boolean not null default false
);
insert into raw.sellout_lines (file_id, source, line_no, week_end_date, store_code, product_code, units)
values (1, 'old', 2, '2024-01-06', 'S1', 'P1', 3);
"""


def _manifest_row(conn, status: str) -> None:
    conn.execute(
        "insert into ops.ingested_files (source, kind, file_name, sha256, size_bytes, status, run_id) "
        "values ('s', 'sellout', 'f.csv', %s, 1, %s, 'r')",
        (f"sha-{status}", status),
    )


def test_an_earlier_versions_tables_are_migrated_once(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(OLD_DDL)
        with pytest.raises(psycopg.errors.CheckViolation):
            _manifest_row(conn, "duplicate")
        for _ in range(2):  # a second call changes nothing
            raw_tables.ensure_schema(conn)
        for status in MANIFEST_STATUSES:
            _manifest_row(conn, status)
        with pytest.raises(psycopg.errors.CheckViolation):
            _manifest_row(conn, "lost")
        checks = conn.execute(
            "select conname from pg_constraint where conrelid = 'ops.ingested_files'::regclass and contype = 'c' "
            "and pg_get_constraintdef(oid) like '%status%'"
        ).fetchall()
        assert len(checks) == 1
        row = conn.execute(
            "select measure, is_return, promotion, is_complete_week, days_reported from raw.sellout_lines"
        ).fetchone()
        assert row == ("units", False, False, True, None)  # the earlier rows get the defaults
        nullable = conn.execute(
            "select is_nullable from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'sellout_lines' and column_name = 'units'"
        ).fetchone()[0]
        assert nullable == "YES"


def test_the_status_check_follows_the_canonical_list(db_url):
    assert all(f"'{status}'" in raw_tables.status_constraint_ddl() for status in MANIFEST_STATUSES)
    with psycopg.connect(db_url, autocommit=True) as conn:
        raw_tables.ensure_schema(conn)
        conn.execute(raw_tables.status_constraint_ddl((*MANIFEST_STATUSES, "archived")))
        _manifest_row(conn, "archived")  # a longer list replaces the check


def test_staging_reads_a_week_of_raw_lines_through_an_index(db_url):
    """The weeks a delivery touched are read alone (dbt's incremental models and tests): an index on
    week_end_date, which an earlier version's table gets too."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(OLD_DDL)
        raw_tables.ensure_schema(conn)
        conn.execute(
            "set enable_seqscan = off"
        )  # a tiny table: make the planner say whether it could use one
        plan = " ".join(
            row[0]
            for row in conn.execute(
                "explain select * from raw.sellout_lines where source = 'old' and week_end_date = '2024-01-06'"
            ).fetchall()
        )
    assert "sellout_lines_week" in plan
