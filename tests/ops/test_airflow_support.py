"""What the DAG calls at run time: params, connections, the week's-files check and its trigger, callbacks."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.dagrun import DagRun
from airflow.models.deadline_alert import DeadlineAlert as DeadlineAlertRecord
from airflow.sdk import Connection
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowTaskTerminated,
    AirflowTaskTimeout,
)
from airflow.serialization.definitions.deadline import SerializedReferenceModels
from airflow.serialization.serialized_objects import DagSerialization
from support.run_process import SAFETY_TIMEOUT_S

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
        trigger = support.WeekFilesTrigger(
            str(PROJECT_ROOT), "local", "all", 0.2, time.time() + SAFETY_TIMEOUT_S
        )
        waiting = asyncio.create_task(first_event(trigger))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        generate(landing_env, weeks=4)  # one more week per retailer
        return await asyncio.wait_for(waiting, SAFETY_TIMEOUT_S)  # a safety net only

    event = asyncio.run(deliver_then_wait())
    assert event["status"] == "ready"
    assert event["check"]["new_files"]["grocer_b"] == ["abverkauf_20230128.csv"]
    classpath, kwargs = support.WeekFilesTrigger(**timeout.serialize()[1]).serialize()
    assert classpath == "sellout.ops.week_files_sensor.WeekFilesTrigger"
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


# -- SIGTERM while waiting --------------------------------------------------------------------------------------

# The sensor's wait loop in a process of its own, with SIGTERM wired as Airflow's task runner wires it
# (airflow.sdk.execution_time.task_runner: `_on_term` calls `ti.task.on_kill()` and nothing else; under
# `airflow dags test` that handler stays installed while the trigger runs in-process).
SENSOR_PROCESS = """
import asyncio, logging, signal, sys, time
from sellout.ops import airflow_support as support
from airflow.sdk.exceptions import AirflowTaskTerminated

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
mode = sys.argv[1]
sensor = support.WeekFilesSensor(
    task_id="wait-for-week-files", kedro_env="local", poke_interval=3600, timeout=7200,
    deferrable=mode == "trigger",
)
signal.signal(signal.SIGTERM, lambda signum, frame: sensor.on_kill())


async def first_event(trigger):
    async for event in trigger.run():
        return event


try:
    if mode == "poke":
        sensor.execute({"params": {"mode": "incremental"}})
    else:
        trigger = support.WeekFilesTrigger(sys.argv[2], "local", "all", 3600, time.time() + 7200)
        asyncio.run(first_event(trigger))
except AirflowTaskTerminated as exc:
    print(f"TERMINATED: {exc}", flush=True)
    sys.exit(0)
print("NOT TERMINATED", flush=True)
sys.exit(1)
"""


@pytest.mark.parametrize(("mode", "waiting_line"), [("poke", "Week's files:"), ("trigger", "Waiting for")])
def test_sigterm_stops_the_sensor_while_it_waits(landing_env, db_url, tmp_path, mode, waiting_line):
    _mark_loaded(db_url, landing_env, "grocer_a")
    _mark_loaded(db_url, landing_env, "grocer_b")  # nothing new: the sensor waits (an hour between checks)
    output = tmp_path / "sensor.log"
    with output.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-c", SENSOR_PROCESS, mode, str(PROJECT_ROOT)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        )
        try:
            # Synchronised on what the process says: it is in its wait loop once it has checked the files.
            deadline = time.monotonic() + SAFETY_TIMEOUT_S
            while waiting_line not in output.read_text(errors="replace"):
                assert process.poll() is None, output.read_text()
                assert time.monotonic() < deadline, "the sensor never started waiting"
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            # The next check is an hour away: ending before the safety net means it stopped on the signal (a sensor that
            # ignores SIGTERM runs into this safety net and the test fails).
            code = process.wait(timeout=SAFETY_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    text = output.read_text()
    assert code == 0, text
    assert "TERMINATED: wait-for-week-files was terminated while waiting for the week's files" in text
    if mode == "poke":
        assert "Stopped waiting for the week's files: the task was terminated (SIGTERM)" in text


def test_on_kill_leaves_an_execution_timeout_to_airflow():
    sensor = support.WeekFilesSensor(task_id="wait-for-week-files", kedro_env="local")
    try:
        raise AirflowTaskTimeout()
    except AirflowTaskTimeout:
        assert sensor.on_kill() is None  # Airflow re-raises its timeout after calling on_kill
    with pytest.raises(AirflowTaskTerminated):
        sensor.on_kill()


# -- airflow dags test and the deadline alert -----------------------------------------------------------------


def test_a_serialized_deadline_alert_is_understood_where_airflow_3_3_hands_one_over():
    """`DAG.test()` gives `DagRun.update_state` the alerts in serialized form (apache/airflow#73428)."""
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "airflow" / "dags")).dags["sellout"]
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    (serialized,) = scheduler_dag.deadline
    assert isinstance(serialized, dict)  # what Airflow 3.3.2 passes on; the real scheduler passes an id

    assert (
        support.accept_serialized_deadline_alerts() is True
    )  # applied when the DAG file imported the module
    alert = DeadlineAlertRecord.get_by_id(serialized)
    assert alert.id is None  # transient: never looked up, never added to a session
    assert alert.name == "forecast-published"
    assert alert.reference_class in SerializedReferenceModels.TYPES.DAGRUN  # so update_state prunes
    assert support.accept_serialized_deadline_alerts() is True  # applying twice wraps once
    assert not hasattr(DeadlineAlertRecord.get_by_id.__wrapped__, "accepts_serialized")


def test_the_airflow_bug_is_still_there_so_the_work_around_is_still_needed():
    """When this fails, Airflow fixed `DagRun.update_state` (apache/airflow#73430): drop the work-around."""
    source = inspect.getsource(DagRun.update_state)
    assert "DeadlineAlertModel.get_by_id(alert_id, session=session) for alert_id in dag.deadline" in source


# -- dbt source freshness before the models ---------------------------------------------------------------------


def test_a_stale_sellout_source_stops_a_weekly_run_but_not_a_full_one(landing_env, db_url, monkeypatch):
    _mark_loaded(db_url, landing_env, "grocer_a")
    with psycopg.connect(db_url) as conn:  # the last load was three weeks ago
        conn.execute("update ops.ingested_files set loaded_at = now() - interval '21 days'")
    context = {"run_id": "scheduled__2026-03-02", "params": {"mode": "incremental"}}
    monkeypatch.setattr(support, "get_current_context", lambda: context)

    with pytest.raises(AirflowFailException, match="Stale sources .*raw.sellout_lines"):
        support.check_source_freshness(env="local")
    context["params"] = {"mode": "full"}
    outcome = support.check_source_freshness(env="local")
    assert sorted(outcome["stale"]) == ["ops.ingested_files", "raw.sellout_lines"]

    with psycopg.connect(db_url) as conn:
        recorded = conn.execute(
            "select unique_id, status from ops.dbt_results where run_id = %s and command = 'source freshness'",
            (context["run_id"],),
        ).fetchall()
    assert dict(recorded) == {
        "source.sellout.raw.sellout_lines": "error",
        "source.sellout.ops.ingested_files": "error",
    }
    context["params"] = {"dry_run": True}
    assert support.check_source_freshness(env="local") == {"checked": False, "reason": "dry run"}
