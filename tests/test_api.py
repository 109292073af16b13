"""The whole graph, end to end, through the programmatic entry point, on a real database.

On a machine with ../shared the data is a 10-store slice of the real dunnhumby files; on a fresh clone without
it, the project's generated sample data.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from conftest import DUNNHUMBY_DIR

from sellout.api import run_pipeline
from sellout.sample_data import generate

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HORIZON = 8


@pytest.fixture
def flow_env(tmp_path, isolated_project, monkeypatch):
    """The throw-away project, with a 10-store slice of dunnhumby or the sample data as its landing data."""

    if (DUNNHUMBY_DIR / "transactions.csv.gz").exists():
        target = tmp_path / "shared" / "data" / "dunnhumby_breakfast_at_the_frat"
        target.mkdir(parents=True)
        transactions = pd.read_csv(DUNNHUMBY_DIR / "transactions.csv.gz", dtype=str)
        stores = sorted(transactions["STORE_NUM"].unique())[:10]
        sliced = transactions[transactions["STORE_NUM"].isin(stores)]
        with gzip.open(target / "transactions.csv.gz", "wt", newline="") as handle:
            sliced.to_csv(handle, index=False)
        for name in ("stores.csv", "products.csv"):
            shutil.copy(DUNNHUMBY_DIR / name, target / name)
        monkeypatch.setenv("SELLOUT_SHARED_DIR", str(tmp_path / "shared"))
        return {
            "env": "dunnhumby",
            "rows": len(sliced),
            "cells": len(sliced.drop_duplicates(["STORE_NUM", "UPC", "WEEK_END_DATE"])),
        }
    written = generate(isolated_project["landing"], weeks=60)
    rows = sum(written.values())
    return {"env": "local", "rows": rows, "cells": rows}


def _scalar(url: str, sql: str):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def test_whole_flow_then_incremental_run_loads_nothing_twice(flow_env, db_url):
    first = run_pipeline("__default__", mode="incremental", env=flow_env["env"], project_path=PROJECT_ROOT)

    assert first.status == "succeeded"
    assert _scalar(db_url, "select count(*) from raw.sellout_lines") == flow_env["rows"]
    assert _scalar(db_url, "select count(*) from marts.fct_sellout_weekly") == flow_env["cells"]
    tests = first.outputs["dbt_test_status"]
    assert tests["success"] is True and tests["failures"] == 0 and tests["tests"] > 10

    forecasts = first.outputs["forecast_write_status"]
    assert forecasts["rows"] > 0
    assert (
        _scalar(db_url, f"select count(*) from forecast.forecasts where run_id = '{first.run_id}'")
        == forecasts["rows"]
    )
    assert forecasts["rows"] == forecasts["series"] * HORIZON
    duplicates = _scalar(
        db_url,
        "select count(*) from (select store_code, product_code, horizon from forecast.forecasts "
        "group by 1, 2, 3 having count(*) > 1) d",
    )
    assert duplicates == 0
    assert _scalar(db_url, "select count(distinct method) from forecast.backtest_metrics") == 4
    assert first.outputs["tableau_refresh_status"]["status"] == "skipped"

    manifest_before = _scalar(db_url, "select count(*) from ops.ingested_files")
    second = run_pipeline("__default__", mode="incremental", env=flow_env["env"], project_path=PROJECT_ROOT)
    # nothing new: a no-op that keeps the first run's forecasts and loads nothing twice
    assert second.status == "noop" and f"since run {first.run_id}" in second.note
    assert second.run_id != first.run_id and second.outputs == {}
    assert _scalar(db_url, "select count(*) from raw.sellout_lines") == flow_env["rows"]
    assert _scalar(db_url, "select count(*) from ops.ingested_files") == manifest_before
    assert _scalar(db_url, "select count(distinct run_id) from forecast.forecasts") == 1
    assert _scalar(db_url, f"select status from ops.pipeline_runs where run_id = '{second.run_id}'") == "noop"


def test_each_stage_runs_alone_and_a_bad_pipeline_name_is_refused(flow_env):
    summary = run_pipeline("ingestion", mode="full", env=flow_env["env"], project_path=PROJECT_ROOT)
    assert summary.status == "succeeded"
    assert set(summary.outputs) == {"ingestion_status"}
    assert summary.outputs["ingestion_status"]["rows_loaded"] >= flow_env["rows"]
    with pytest.raises(ValueError, match="unknown pipeline 'ingest': did you mean 'ingestion'"):
        run_pipeline("ingest", env=flow_env["env"], project_path=PROJECT_ROOT)
    with pytest.raises(ValueError, match="mode must be one of"):
        run_pipeline("ingestion", mode="sometimes", project_path=PROJECT_ROOT)


@pytest.mark.slow
def test_whole_dunnhumby_set_full_run(isolated_project, db_url, monkeypatch, dunnhumby_dir):
    monkeypatch.setenv("SELLOUT_SHARED_DIR", str(dunnhumby_dir.parents[1]))
    summary = run_pipeline("__default__", mode="full", env="dunnhumby", project_path=PROJECT_ROOT)
    transactions = pd.read_csv(
        dunnhumby_dir / "transactions.csv.gz", usecols=["STORE_NUM", "UPC", "WEEK_END_DATE"]
    )
    assert _scalar(db_url, "select count(*) from raw.sellout_lines") == len(transactions) == 524_950
    assert _scalar(db_url, "select count(*) from marts.fct_sellout_weekly") == len(
        transactions.drop_duplicates()
    )
    status = summary.outputs["forecast_write_status"]
    assert status["rows"] == status["series"] * HORIZON
    assert summary.outputs["dbt_test_status"]["failures"] == 0


def test_a_backfill_reloads_the_files_of_its_weeks_through_the_catalog(flow_env, db_url):
    first = run_pipeline("ingestion", env=flow_env["env"], project_path=PROJECT_ROOT)
    assert first.status == "succeeded"
    rows = _scalar(db_url, "select count(*) from raw.sellout_lines")
    week = _scalar(db_url, "select to_char(max(last_week), 'IYYY-\"W\"IW') from ops.ingested_files")
    in_week = _scalar(
        db_url,
        "select count(*) from ops.ingested_files where status = 'loaded' and "
        f"to_char(last_week, 'IYYY-\"W\"IW') >= '{week}'",
    )
    backfill = run_pipeline(
        "ingestion",
        env=flow_env["env"],
        project_path=PROJECT_ROOT,
        params={"backfill_from": week, "backfill_to": week},
    )
    assert backfill.status == "succeeded"
    assert backfill.outputs["ingestion_status"]["files_loaded"] == in_week > 0
    assert _scalar(db_url, "select count(*) from raw.sellout_lines") == rows
    assert (
        _scalar(db_url, f"select count(*) from ops.ingested_files where run_id = '{backfill.run_id}'")
        == in_week
    )
