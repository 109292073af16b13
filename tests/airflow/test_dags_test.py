"""Real Airflow 3 runs the generated DAG (`airflow dags test`) against an embedded PostgreSQL and sample data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from sellout.sample_data import generate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def test_airflow_dags_test_runs_the_whole_flow_under_one_run_id(tmp_path, db_url):
    generate(tmp_path / "landing", weeks=60)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "airflow" / "dags"),
        "KEDRO_DISABLE_TELEMETRY": "1",
        "SELLOUT_DB_URL": db_url,
        "SELLOUT_DATA_DIR": str(tmp_path / "data"),
        "SELLOUT_LANDING_DIR": str(tmp_path / "landing"),
        "DBT_TARGET_PATH": str(tmp_path / "dbt" / "target"),
        "DBT_LOG_PATH": str(tmp_path / "dbt" / "logs"),
    }
    for name in ("TABLEAU_SERVER_URL", "NOTIFY_WEBHOOK_URL"):
        env.pop(name, None)
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, cwd=tmp_path
    )
    result = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "sellout"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the project root: the DAG must find the project by itself
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "DagRun Finished: dag_id=sellout" in result.stdout + result.stderr

    with psycopg.connect(db_url) as conn:
        forecast_runs = conn.execute("select distinct run_id from forecast.forecasts").fetchall()
        manifest_runs = conn.execute("select distinct run_id from ops.ingested_files").fetchall()
        backtest_runs = conn.execute("select distinct run_id from forecast.backtest_metrics").fetchall()
        forecasts = conn.execute("select count(*) from forecast.forecasts").fetchone()[0]
    assert len(forecast_runs) == 1 and forecast_runs[0][0].startswith("manual__")
    assert manifest_runs == forecast_runs == backtest_runs
    assert forecasts > 0
    refresh = json.loads((tmp_path / "data" / "08_reporting" / "tableau_refresh_status.json").read_text())
    assert refresh["run_id"] == forecast_runs[0][0]
    assert refresh["status"] == "skipped"
