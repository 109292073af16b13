"""Real Airflow 3 runs the generated DAG (`airflow dags test`) against an embedded PostgreSQL and sample data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from conftest import OUTSIDE_SYSTEM_VARIABLES
from support.airflow_connections import connection_variables
from support.tableau_fake import FakeTableauServer
from support.webhook_sink import WebhookSink

from sellout.datasets import raw_tables
from sellout.sample_data import generate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UPSTREAM_OF_DBT_TEST = {
    "wait-for-week-files",
    "plan-ingestion-load-new-files",
    "plan-ingestion-parse-new-files",
    "summarize-ingestion",
    "dbt-source-freshness",
    "dbt-run",
}

pytestmark = pytest.mark.slow


def _airflow_env(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "airflow" / "dags"),
        "KEDRO_DISABLE_TELEMETRY": "1",
        "COLUMNS": "400",  # Kedro's rich log handler wraps at the console width
        "SELLOUT_DB_URL": db_url,
        "SELLOUT_DATA_DIR": str(tmp_path / "data"),
        "SELLOUT_LANDING_DIR": str(tmp_path / "landing"),
        "DBT_TARGET_PATH": str(tmp_path / "dbt" / "target"),
        "DBT_LOG_PATH": str(tmp_path / "dbt" / "logs"),
        **extra,
    }
    # Plain `airflow dags test`, as an operator runs it: nothing on PYTHONPATH, no project root given.
    for name in (*OUTSIDE_SYSTEM_VARIABLES, "SELLOUT_PROJECT_ROOT", "PYTHONPATH"):
        env.pop(name, None)
    return env


def _dags_test(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, cwd=tmp_path
    )
    return subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "sellout"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the project root: the DAG must find the project by itself
    )


def _task_states(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    script = (
        "import json\n"
        "from airflow.models.taskinstance import TaskInstance\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        "    print(json.dumps({ti.task_id: str(ti.state) for ti in s.query(TaskInstance).all()}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_airflow_dags_test_runs_the_whole_flow_under_one_run_id(tmp_path, db_url):
    generate(tmp_path / "landing", weeks=60)
    with (
        FakeTableauServer(datasources=[{"name": "sellout_forecasts"}]) as tableau,
        WebhookSink() as sink,
    ):
        # Tableau and the alert route come from Airflow connections, as on the NAS.
        env = _airflow_env(tmp_path, db_url, **connection_variables(tableau, sink))
        result = _dags_test(tmp_path, env)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        assert "DagRun Finished: dag_id=sellout" in output
        refresh_calls = tableau.calls("POST", r"/refresh$")
        events = [received.json for received in sink.received]

    states = _task_states(env, tmp_path)
    assert set(states.values()) == {"success"}, states
    assert "wait-for-week-files" in states

    with psycopg.connect(db_url) as conn:
        forecast_runs = conn.execute("select distinct run_id from forecast.forecasts").fetchall()
        manifest_runs = conn.execute("select distinct run_id from ops.ingested_files").fetchall()
        backtest_runs = conn.execute("select distinct run_id from forecast.backtest_metrics").fetchall()
        forecasts = conn.execute("select count(*) from forecast.forecasts").fetchone()[0]
    assert len(forecast_runs) == 1 and forecast_runs[0][0].startswith("manual__")
    run_id = forecast_runs[0][0]
    assert manifest_runs == forecast_runs == backtest_runs
    assert forecasts > 0

    refresh = json.loads((tmp_path / "data" / "08_reporting" / "tableau_refresh_status.json").read_text())
    assert refresh["run_id"] == run_id
    assert refresh["status"] == "succeeded", refresh
    assert [item["item_name"] for item in refresh["items"]] == ["sellout_forecasts"]
    assert len(refresh_calls) == 1  # one refresh, confirmed

    # The run-end event reached the alert route of the Airflow connection once, with the same run id and the
    # refresh the run-end task knows of (the DAG's success callback leaves it to that task).
    run_end = [event for event in events if event.get("event") == "run_succeeded"]
    assert len(run_end) == 1, events
    assert run_end[0]["run_id"] == run_id
    assert run_end[0]["tableau"]["status"] == "succeeded", run_end
    assert f"run_succeeded for run {run_id} was sent by the notify-run-end task" in output


def _seed_a_negative_units_row(db_url: str, landing: Path) -> str:
    """An earlier load left a row with negative units in raw.sellout_lines (the parser now rejects such rows,
    so it is written directly, as a loaded file of an older week); dbt's not_negative test on staging fails."""

    store = (landing / "grocer_a" / "stores.csv").read_text().splitlines()[1].split(",")[0]
    product = (landing / "grocer_a" / "products.csv").read_text().splitlines()[1].split(",")[0]
    with psycopg.connect(db_url) as conn:
        raw_tables.ensure_schema(conn)
        file_id = conn.execute(
            "insert into ops.ingested_files (source, kind, file_name, sha256, size_bytes, rows_in_file, "
            "rows_loaded, rows_rejected, status, first_week, last_week, run_id) values ('grocer_a', 'sellout', "
            "'sellout_2020-01-04.csv', 'seeded', 100, 1, 1, 0, 'loaded', '2020-01-04', '2020-01-04', 'earlier') "
            "returning file_id"
        ).fetchone()[0]
        conn.execute(
            "insert into raw.sellout_lines (file_id, source, line_no, week_end_date, store_code, product_code, "
            "units) values (%s, 'grocer_a', 1, '2020-01-04', %s, %s, -5)",
            (file_id, store, product),
        )
    return "sellout_2020-01-04.csv"


def test_a_failing_dbt_test_stops_downstream_and_fires_the_failure_callback(tmp_path, db_url):
    generate(tmp_path / "landing", weeks=30)
    bad_file = _seed_a_negative_units_row(db_url, tmp_path / "landing")
    env = _airflow_env(tmp_path, db_url)

    result = _dags_test(tmp_path, env)
    output = result.stdout + result.stderr

    states = _task_states(env, tmp_path)
    assert states["dbt-run"] == "success", states
    assert states["dbt-test"] == "failed", states
    downstream = set(states) - UPSTREAM_OF_DBT_TEST - {"dbt-test"}
    assert {"build-model-panel", "refresh-tableau", "notify-run-end"} <= downstream
    assert {states[task] for task in downstream} == {"upstream_failed"}, states
    assert "not_negative_fct_sellout_weekly_units" in output
    assert "Alert dbt_test_failed for run manual__" in output, output[-4000:]

    with psycopg.connect(db_url) as conn:
        schemas = {row[0] for row in conn.execute("select schema_name from information_schema.schemata")}
        # Every manifest row's rows are all there: no file is half loaded.
        per_file = conn.execute(
            "select f.file_name, f.rows_loaded, count(l.*) from ops.ingested_files f "
            "left join raw.sellout_lines l using (file_id) where f.kind = 'sellout' "
            "group by f.file_name, f.rows_loaded"
        ).fetchall()
        negative = conn.execute("select count(*) from raw.sellout_lines where units < 0").fetchone()[0]
        forecast_tables = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'forecast'"
        ).fetchone()[0]
    assert bad_file in {name for name, _, _ in per_file}
    assert all(loaded == counted for _, loaded, counted in per_file), per_file
    assert negative == 1
    # Nothing downstream of the failed test was written: no forecast table, no model layers.
    assert forecast_tables == 0, schemas
    for layer in ("04_feature", "05_model_input", "06_models", "07_model_output", "08_reporting"):
        assert not (tmp_path / "data" / layer).exists() or not any((tmp_path / "data" / layer).iterdir())
    leftovers = [p for p in (tmp_path / "data").rglob("*") if p.suffix in (".partial", ".tmp")]
    assert leftovers == []
