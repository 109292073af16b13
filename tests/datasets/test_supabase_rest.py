"""The Supabase REST dataset through the real supabase-py client, against a PostgREST-speaking local server
backed by the embedded PostgreSQL."""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest
from kedro.io import DatasetError
from support.postgrest_fake import PostgrestFake

from sellout.datasets import SupabaseTableDataset

KEY = "sb_secret_canary_0123456789"


@pytest.fixture
def api(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("create schema ops")
        conn.execute(
            "create table ops.pipeline_runs (run_id text primary key, status text not null, "
            "started_at timestamptz, rows_out bigint)"
        )
    with PostgrestFake(db_url, KEY) as fake:
        yield fake


def _dataset(api, key=KEY, **kwargs):
    return SupabaseTableDataset(
        "pipeline_runs", credentials={"url": api.url, "key": key}, schema="ops", **kwargs
    )


def _runs(n=3, status="running"):
    return pd.DataFrame(
        {
            "run_id": [f"r{i}" for i in range(n)],
            "status": [status] * n,
            "started_at": pd.to_datetime([f"2026-11-2{i % 9}T07:00:00Z" for i in range(n)]),
            "rows_out": [i * 10 for i in range(n)],
        }
    )


def test_upsert_then_read_back_with_filters_and_order(api, db_url):
    dataset = _dataset(api, save_args={"mode": "upsert", "on_conflict": ["run_id"]})
    dataset.save(_runs())
    dataset.save(_runs(2, status="succeeded"))
    reader = _dataset(
        api,
        load_args={
            "columns": ["run_id", "status"],
            "filters": {"status": "eq.succeeded"},
            "order": "run_id.desc",
        },
    )
    assert reader.load().to_dict("records") == [
        {"run_id": "r1", "status": "succeeded"},
        {"run_id": "r0", "status": "succeeded"},
    ]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from ops.pipeline_runs").fetchone()[0] == 3
        started = conn.execute("select started_at from ops.pipeline_runs where run_id = 'r1'").fetchone()[0]
    assert started.isoformat() == "2026-11-21T07:00:00+00:00"
    prefer = [r["headers"].get("Prefer", "") for r in api.requests if r["method"] == "POST"]
    assert all("resolution=merge-duplicates" in p for p in prefer)


def test_reads_page_through_large_tables(api):
    _dataset(api, save_args={"mode": "insert", "chunk_rows": 800}).save(_runs(2300))
    loaded = _dataset(api, load_args={"page_rows": 1000, "order": "run_id.asc"}).load()
    assert len(loaded) == 2300 and loaded["run_id"].nunique() == 2300
    assert sum(1 for r in api.requests if r["method"] == "GET") == 3


def test_a_wrong_key_is_a_clear_error_without_the_key(api):
    with pytest.raises(DatasetError) as error:
        _dataset(api, key="sb_secret_wrong_key").load()
    assert "Invalid API key (code PGRST301)" in str(error.value)
    assert "sb_secret_wrong_key" not in str(error.value)


def test_an_upsert_is_retried_after_a_5xx_an_insert_is_not(api, db_url):
    api.fail_next = [503]
    _dataset(api, save_args={"mode": "upsert", "on_conflict": ["run_id"]}).save(_runs(1))
    api.fail_next = [503]
    with pytest.raises(DatasetError, match="could not write ops.pipeline_runs"):
        _dataset(api, save_args={"mode": "insert"}).save(_runs(1).assign(run_id="new"))
    with psycopg.connect(db_url) as conn:
        assert [r[0] for r in conn.execute("select run_id from ops.pipeline_runs").fetchall()] == ["r0"]


def test_database_errors_come_back_named(api):
    with pytest.raises(DatasetError, match=r"null value in column \"status\".*\(code 23502\)"):
        _dataset(api, save_args={"mode": "insert"}).save(pd.DataFrame({"run_id": ["x"], "status": [None]}))
    with pytest.raises(DatasetError, match="Could not find the table 'ops.nope'"):
        SupabaseTableDataset("nope", credentials={"url": api.url, "key": KEY}, schema="ops").load()


def test_credentials_are_required_and_not_described():
    with pytest.raises(DatasetError, match="credentials need 'url' and 'key'"):
        SupabaseTableDataset("t", credentials={"url": "https://x.supabase.co"})
    dataset = SupabaseTableDataset("t", credentials={"url": "https://abc.supabase.co", "key": KEY})
    assert KEY not in repr(dataset) and "abc.supabase.co" in repr(dataset)
