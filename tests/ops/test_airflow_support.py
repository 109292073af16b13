"""What the DAG calls at run time: params, connections, the week's-files check and its trigger, callbacks."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowSensorTimeout

from sellout.datasets import raw_tables
from sellout.ingest.landing import file_sha256
from sellout.ops import airflow_support as support
from sellout.sample_data import generate

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# -- params ---------------------------------------------------------------------------------------------------


def test_runtime_params_carry_the_airflow_run_id_mode_dry_run_and_backfill_range():
    params = support.runtime_params(
        "scheduled__2026-03-02T06:00:00+00:00",
        {"mode": "full", "dry_run": True, "backfill_from": "2026-W05", "backfill_to": "2026-W08"},
    )
    assert params == {
        "run_id": "scheduled__2026-03-02T06:00:00+00:00",
        "mode": "full",
        "dry_run": True,
        "backfill_from": "2026-W05",
        "backfill_to": "2026-W08",
    }
    assert "backfill_from" not in support.runtime_params("r", {"mode": "incremental", "dry_run": False})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mode": "weekly"}, "'mode' is 'weekly'"),
        ({"backfill_from": "2026-05"}, "backfill_from"),
        ({"backfill_from": "2026-W54"}, "backfill_from"),
        ({"backfill_from": "2026-W09", "backfill_to": "2026-W02"}, "after backfill_to"),
    ],
)
def test_bad_params_are_refused_with_the_param_named(params, message):
    with pytest.raises(ValueError, match=message):
        support.runtime_params("r", params)


def test_the_sensor_waits_only_for_a_plain_incremental_run():
    assert support.wait_reason({"mode": "incremental", "dry_run": False}) is None
    assert support.wait_reason({"mode": "incremental", "dry_run": True}) == "dry run"
    assert "full" in support.wait_reason({"mode": "full"})
    assert "backfill" in support.wait_reason({"backfill_from": "2026-W05"})
    assert support.wait_reason({"wait_for_files": False}) == "wait_for_files is off"


# -- connections ----------------------------------------------------------------------------------------------


def test_airflow_connections_become_the_projects_variables_without_overriding(monkeypatch):
    for name in (
        "SELLOUT_DB_URL",
        "SUPABASE_DB_URL",
        "TABLEAU_SERVER_URL",
        "TABLEAU_SITE",
        "TABLEAU_TOKEN_NAME",
        "TABLEAU_TOKEN_SECRET",
        "TABLEAU_JWT",
        "NOTIFY_WEBHOOK_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TABLEAU_SITE", "kept-site")
    connections = {
        "sellout_db": Connection(
            conn_id="sellout_db",
            conn_type="postgres",
            host="db.example.org",
            port=6543,
            login="postgres.ref",
            password="s3cret",
            schema="postgres",
            extra='{"sslmode": "require"}',
        ),
        "sellout_tableau": Connection(
            conn_id="sellout_tableau",
            conn_type="http",
            host="tableau.example.org",
            login="pat-name",
            password="pat-secret",
            extra='{"site": "from-conn"}',
        ),
        "sellout_alerts": Connection(
            conn_id="sellout_alerts", conn_type="http", extra='{"webhook_url": "https://n8n.local/webhook/x"}'
        ),
    }
    exported = support.export_connections(connections.get)

    assert os.environ["SELLOUT_DB_URL"] == os.environ["SUPABASE_DB_URL"]
    assert os.environ["SELLOUT_DB_URL"].startswith(
        "postgresql://postgres.ref:s3cret@db.example.org:6543/postgres"
    )
    assert "sslmode=require" in os.environ["SELLOUT_DB_URL"]
    assert os.environ["TABLEAU_SERVER_URL"] == "https://tableau.example.org"
    assert os.environ["TABLEAU_TOKEN_NAME"] == "pat-name"
    assert os.environ["TABLEAU_TOKEN_SECRET"] == "pat-secret"
    assert os.environ["TABLEAU_SITE"] == "kept-site"  # an explicit variable wins
    assert os.environ["NOTIFY_WEBHOOK_URL"] == "https://n8n.local/webhook/x"
    assert "TABLEAU_SITE" not in exported and "TABLEAU_JWT" not in exported
    assert support.export_connections(lambda conn_id: None) == []


# -- the week's files -----------------------------------------------------------------------------------------


@pytest.fixture
def landing_env(tmp_path, db_url, monkeypatch):
    landing = tmp_path / "landing"
    generate(landing, weeks=3)
    monkeypatch.setenv("SELLOUT_LANDING_DIR", str(landing))
    monkeypatch.setenv("SELLOUT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SELLOUT_DB_URL", db_url)
    return landing


def _mark_loaded(db_url: str, landing: Path, source: str) -> None:
    with psycopg.connect(db_url) as conn:
        raw_tables.ensure_schema(conn)
        for path in sorted((landing / source).iterdir()):
            conn.execute(
                "insert into ops.ingested_files (source, kind, file_name, sha256, size_bytes, status, run_id) "
                "values (%s, 'sellout', %s, %s, 0, 'loaded', 'earlier')",
                (source, path.name, file_sha256(path)),
            )


def test_week_files_are_ready_when_every_source_has_a_new_file(landing_env, db_url):
    status = support.check_week_files(PROJECT_ROOT, "local")
    assert status["ready"] is True
    assert set(status["new_files"]) == {"grocer_a", "grocer_b"}
    assert len(status["new_files"]["grocer_a"]) == 3

    _mark_loaded(db_url, landing_env, "grocer_a")
    status = support.check_week_files(PROJECT_ROOT, "local")
    assert status["ready"] is False
    assert status["waiting_for"] == ["grocer_a"]
    assert support.check_week_files(PROJECT_ROOT, "local", require="any")["ready"] is True


def test_the_trigger_fires_when_the_file_lands_and_times_out_otherwise(landing_env, db_url):
    _mark_loaded(db_url, landing_env, "grocer_a")
    _mark_loaded(db_url, landing_env, "grocer_b")

    async def first_event(trigger):
        async for event in trigger.run():
            return event.payload
        return None

    timeout = support.WeekFilesTrigger(str(PROJECT_ROOT), "local", "all", 0.2, time.time() + 0.5)
    event = asyncio.run(first_event(timeout))
    assert event["status"] == "timeout"
    assert event["check"]["waiting_for"] == ["grocer_a", "grocer_b"]

    async def deliver_then_wait():
        trigger = support.WeekFilesTrigger(str(PROJECT_ROOT), "local", "all", 0.2, time.time() + 60)
        waiting = asyncio.create_task(first_event(trigger))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        generate(landing_env, weeks=4)  # one more week per retailer
        return await asyncio.wait_for(waiting, 30)

    event = asyncio.run(deliver_then_wait())
    assert event["status"] == "ready"
    assert event["check"]["new_files"]["grocer_b"] == ["abverkauf_20230128.csv"]
    classpath, kwargs = support.WeekFilesTrigger(**timeout.serialize()[1]).serialize()
    assert classpath == "sellout.ops.airflow_support.WeekFilesTrigger"
    assert kwargs == timeout.serialize()[1]


def test_the_sensor_fails_without_retry_when_the_files_are_late():
    sensor = support.WeekFilesSensor(
        task_id="wait-for-week-files", kedro_env="local", timeout=60, poke_interval=5
    )
    with pytest.raises(AirflowSensorTimeout, match="no new sell-out file from \\['grocer_b'\\]"):
        sensor.execute_complete({}, {"status": "timeout", "check": {"waiting_for": ["grocer_b"]}})
    assert sensor.execute({"params": {"mode": "full"}}) == {
        "waited": False,
        "reason": "full mode reloads the files already there",
    }


# -- callbacks ------------------------------------------------------------------------------------------------


class _TI:
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id


@pytest.fixture
def alerts(monkeypatch):
    sent: list[dict] = []
    alerts_module = pytest.importorskip(
        "sellout.ops.alerts", reason="sellout.ops.alerts (the notifier) is not there yet"
    )

    def fake_send_alert(kind, *, run_id, summary, env=None, project_path=None):
        sent.append({"kind": kind, "run_id": run_id, "summary": summary, "env": env, "path": project_path})

    monkeypatch.setattr(alerts_module, "send_alert", fake_send_alert)
    return sent


@pytest.mark.parametrize(
    ("task_id", "kind"),
    [
        ("dbt-test", "dbt_test_failed"),
        ("wait-for-week-files", "data_late"),
        ("train-forecast-model", "run_failed"),
    ],
)
def test_the_failure_callback_names_the_kind_of_failure(alerts, task_id, kind):
    support.on_dag_failure(
        {"run_id": "manual__1", "reason": "task_failure", "ti": _TI(task_id), "params": {"mode": "full"}}
    )
    (alert,) = alerts
    assert alert["kind"] == kind
    assert alert["run_id"] == "manual__1"
    assert alert["summary"]["task_id"] == task_id
    assert alert["summary"]["mode"] == "full"
    assert alert["path"] == PROJECT_ROOT


def test_success_and_deadline_callbacks(alerts):
    support.on_dag_success({"run_id": "scheduled__2", "params": {"mode": "incremental", "dry_run": False}})
    asyncio.run(
        support.forecast_late(
            context={
                "dag_run": {"run_id": "scheduled__2", "dag_id": "sellout", "state": "running"},
                "deadline": {"id": "d1", "deadline_time": "2026-03-02T12:00:00+00:00"},
            }
        )
    )
    assert [(a["kind"], a["run_id"]) for a in alerts] == [
        ("run_succeeded", "scheduled__2"),
        ("forecast_late", "scheduled__2"),
    ]
    assert alerts[1]["summary"]["deadline"] == "2026-03-02T12:00:00+00:00"


def test_the_success_callback_leaves_run_succeeded_to_the_run_end_task(alerts):
    with_run_end = SimpleNamespace(dag_id="sellout", task_ids=["dbt-test", support.RUN_END_TASK_ID])
    without = SimpleNamespace(dag_id="sellout_ingestion", task_ids=["wait-for-week-files", "dbt-test"])
    support.on_dag_success({"run_id": "scheduled__3", "dag": with_run_end, "params": {}})
    support.on_dag_success({"run_id": "scheduled__4", "dag": without, "params": {}})
    assert [(a["kind"], a["run_id"]) for a in alerts] == [("run_succeeded", "scheduled__4")]


def test_a_failing_notifier_never_breaks_a_callback(monkeypatch, caplog):
    alerts_module = pytest.importorskip(
        "sellout.ops.alerts", reason="sellout.ops.alerts (the notifier) is not there yet"
    )

    def broken(*args, **kwargs):
        raise RuntimeError("down")

    monkeypatch.setattr(alerts_module, "send_alert", broken)
    assert support._notify("run_failed", "r1", {}) is False
    assert "NOT sent" in caplog.text
