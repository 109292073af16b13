"""The Rossmann daily store sales (../shared), onboarded by config alone as the `rossmann` Kedro environment:
a daily, value-only feed without products, with closed days and a half-year gap for 180 stores."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from conftest import PROJECT_ROOT, SHARED_DIR

from sellout.api import run_pipeline
from sellout.config.project import ProjectConfig

ROSSMANN = SHARED_DIR / "data" / "rossmann_store_sales"


def test_the_rossmann_environment_reads_only_rossmann(monkeypatch):
    monkeypatch.setenv("SELLOUT_SHARED_DIR", str(SHARED_DIR))
    sources = ProjectConfig("rossmann", PROJECT_ROOT).sources
    assert [name for name, source in sources.items() if source.enabled] == ["rossmann"]
    spec = sources["rossmann"].sellout
    assert (spec.frequency, spec.measure, spec.constants) == ("daily", "sales_value", {"product_code": "ALL"})
    assert Path(sources["rossmann"].directory) == ROSSMANN.resolve()


def _scalar(url: str, sql: str):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.mark.slow
def test_rossmann_loads_and_every_dbt_test_holds(isolated_project, db_url, monkeypatch):
    if not (ROSSMANN / "train.csv.gz").exists():
        pytest.skip(f"real data not found at {ROSSMANN} (set SELLOUT_SHARED_DIR)")
    monkeypatch.setenv("SELLOUT_SHARED_DIR", str(SHARED_DIR))
    ingestion = run_pipeline("ingestion", mode="full", env="rossmann", project_path=PROJECT_ROOT)
    assert ingestion.status == "succeeded"
    status = ingestion.outputs["ingestion_status"]
    assert (status["files_loaded"], status["rows_loaded"], status["rows_rejected"]) == (1, 1_017_209, 0)
    assert _scalar(db_url, "select count(distinct store_code) from raw.sellout_lines") == 1115
    assert _scalar(db_url, "select sum(days_closed) from raw.sellout_lines") == 172_817
    assert _scalar(db_url, "select sum(days_reported) from raw.sellout_lines") == 1_017_209
    # the last week (Monday 2015-07-27 to Friday the 31st) is incomplete for every store
    assert (
        _scalar(
            db_url,
            "select count(*) from raw.sellout_lines where week_end_date = '2015-08-02' and is_complete_week",
        )
        == 0
    )
    # 180 stores report nothing from 2014-07-01 to 2014-12-31: no rows, not zeros
    assert (
        _scalar(
            db_url,
            "select count(distinct store_code) from raw.sellout_lines where week_end_date = '2014-09-07'",
        )
        == 1115 - 180
    )
    transform = run_pipeline("transform", mode="full", env="rossmann", project_path=PROJECT_ROOT)
    assert transform.status == "succeeded"
    tests = transform.outputs["dbt_test_status"]
    assert tests["success"] and tests["failures"] == 0
    assert _scalar(db_url, "select count(distinct measure) from marts.fct_sellout_weekly") == 1
    assert _scalar(db_url, "select count(*) from marts.dim_product") == 1
