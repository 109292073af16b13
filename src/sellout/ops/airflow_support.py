"""What the generated Airflow DAG calls at run time, so that the DAG file stays a thin, generated wiring.

- :func:`run_kedro_nodes`: one task = one group of Kedro nodes in its own ``KedroSession``, with Airflow's run id
  and the trigger-time params (mode, dry run, backfill range) as runtime parameters, wherever the worker runs.
- :func:`export_connections`: the Airflow connections ``sellout_db``, ``sellout_tableau`` and ``sellout_alerts``
  (``AIRFLOW_CONN_*`` variables or the UI) become the environment variables the project's config reads.
- :class:`WeekFilesSensor` / :class:`WeekFilesTrigger`: the data-availability check; it waits, deferred in the
  triggerer, until every enabled source has a new sell-out file in its landing folder.
- :func:`check_source_freshness`: ``dbt source freshness`` between the ingestion and ``dbt run`` (the freshness
  declared in dbt/models/staging/__sources.yml), its results recorded in ``ops.dbt_results``.
- :func:`on_dag_success`, :func:`on_dag_failure` and :func:`forecast_late`: hand run events to the notifier
  (``sellout.ops.alerts.send_alert``).
- :func:`accept_serialized_deadline_alerts`: the work-around for an Airflow 3.3 bug that makes
  ``airflow dags test`` exit 1 after a successful run of a DAG with a deadline alert (applied on import).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.models.deadline_alert import DeadlineAlert as DeadlineAlertRecord
from airflow.sdk import BaseSensorOperator, Connection, get_current_context
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowTaskTerminated,
    AirflowTaskTimeout,
)
from airflow.serialization.definitions.deadline import DeadlineAlertFields
from airflow.serialization.enums import Encoding
from airflow.triggers.base import BaseTrigger, TriggerEvent
from kedro.framework.project import configure_project
from kedro.framework.session import KedroSession
from kedro.runner import SequentialRunner

from sellout.config.backfill import backfill_range
from sellout.config.loader import project_root
from sellout.config.project import ProjectConfig
from sellout.integrations import db
from sellout.integrations.dbt_runner import run_dbt
from sellout.ops import alerts, run_records
from sellout.ops.dry_run import DryRunner
from sellout.ops.no_op import NothingNew
from sellout.ops.week_files import check_week_files

logger = logging.getLogger(__name__)

PACKAGE = "sellout"
# The task whose failure means "the week's files did not come" and the one that means "a dbt test failed".
SENSOR_TASK_ID = "wait-for-week-files"
DBT_TEST_TASK_ID = "dbt-test"
FRESHNESS_TASK_ID = "dbt-source-freshness"  # a task of the template, not a Kedro node
FRESHNESS_COMMAND = "source freshness"
STALE = frozenset({"error", "runtime error"})
RUN_END_TASK_ID = "notify-run-end"  # the publish pipeline's notify_run_end node


# -- runtime params -------------------------------------------------------------------------------------------


def kedro_env(default: str) -> str:
    """The Kedro environment of the tasks: ``SELLOUT_KEDRO_ENV`` (``prod`` on the NAS), else ``default``."""
    return os.environ.get("SELLOUT_KEDRO_ENV") or default


def runtime_params(run_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The Kedro runtime parameters of one task: Airflow's run id and the DAG run's trigger-time params."""
    mode = str(params.get("mode") or "incremental")
    if mode not in ("incremental", "full"):
        raise ValueError(f"DAG param 'mode' is {mode!r}; use 'incremental' or 'full'")
    result: dict[str, Any] = {"run_id": run_id, "mode": mode, "dry_run": bool(params.get("dry_run", False))}
    backfill = backfill_range(params)
    if backfill:
        result["backfill_from"], result["backfill_to"] = backfill
    return result


# -- Airflow connections -> the project's environment variables -----------------------------------------------

DB_CONN_ID = "sellout_db"
TABLEAU_CONN_ID = "sellout_tableau"
ALERTS_CONN_ID = "sellout_alerts"


def export_connections(get_connection=None) -> list[str]:
    """Set the project's variables from Airflow connections; a variable already set is left alone.

    ``sellout_db`` (postgres): ``SELLOUT_DB_URL`` and ``SUPABASE_DB_URL``. ``sellout_tableau`` (http): host =
    server URL, login/password = token name/secret, extra ``site`` and ``jwt``. ``sellout_alerts`` (http):
    extra ``webhook_url`` (else the host). Returns the names of the variables set (never their values).
    """
    get_connection = get_connection or _airflow_connection
    exported: list[str] = []

    def put(name: str, value: Any) -> None:
        if value and not os.environ.get(name):
            os.environ[name] = str(value)
            exported.append(name)

    conn = get_connection(DB_CONN_ID)
    if conn is not None:
        url = conn.get_uri()
        url = "postgresql://" + url.split("://", 1)[1] if "://" in url else url
        put("SELLOUT_DB_URL", url)
        put("SUPABASE_DB_URL", url)
    conn = get_connection(TABLEAU_CONN_ID)
    if conn is not None:
        extra = conn.extra_dejson or {}
        put("TABLEAU_SERVER_URL", _http_url(conn))
        put("TABLEAU_SITE", extra.get("site"))
        put("TABLEAU_TOKEN_NAME", conn.login)
        put("TABLEAU_TOKEN_SECRET", conn.password)
        put("TABLEAU_JWT", extra.get("jwt"))
    conn = get_connection(ALERTS_CONN_ID)
    if conn is not None:
        extra = conn.extra_dejson or {}
        put("NOTIFY_WEBHOOK_URL", extra.get("webhook_url") or _http_url(conn))
    if exported:
        logger.info("Configuration from Airflow connections: %s", ", ".join(sorted(exported)))
    return exported


def _http_url(conn) -> str | None:
    if not conn.host:
        return None
    if "://" in conn.host:
        return conn.host
    scheme = conn.schema or "https"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{conn.host}{port}"


def _airflow_connection(conn_id: str):
    try:
        return Connection.get(conn_id)
    except Exception:  # noqa: BLE001 - an undefined connection means "configured some other way"
        return None


# -- tasks ----------------------------------------------------------------------------------------------------


def run_kedro_nodes(node_names: list[str], *, pipeline: str = "__default__", env: str = "local") -> None:
    """Run ``node_names`` of ``pipeline`` in one KedroSession with this DAG run's id and params."""
    context = get_current_context()
    params = runtime_params(context["run_id"], context["params"])
    export_connections()
    configure_project(PACKAGE)
    runner = DryRunner() if params["dry_run"] else SequentialRunner()
    with KedroSession.create(project_path=project_root(), env=env, runtime_params=params) as session:
        try:
            session.run(pipeline_names=[pipeline], node_names=node_names, runner=runner)
        except NothingNew as nothing:  # the task had nothing to do: it succeeds, and says so
            logger.info("%s", nothing)


def check_source_freshness(*, env: str = "local") -> dict[str, Any]:
    """``dbt source freshness`` of this DAG run, after the ingestion and before ``dbt run``.

    Each source's result (pass / warn / error) goes to ``ops.dbt_results`` (command ``source freshness``) with the
    run's id. A stale source (``error_after`` passed: no sell-out file loaded for two weeks) fails the task -- and
    with it the run, ``data_late`` -- in a plain incremental run; a full, backfill or no-wait run only logs it (it
    reloads what is there on purpose), and a dry run does not check.
    """
    context = get_current_context()
    params = runtime_params(context["run_id"], context["params"])
    if params["dry_run"]:
        logger.info("Dry run: dbt source freshness not checked")
        return {"checked": False, "reason": "dry run"}
    export_connections()
    url = db.resolve_url(ProjectConfig(env, project_root()).credentials.get("db"))
    result = run_dbt(["source", "freshness"], url)
    results = [
        {
            "unique_id": r.unique_id,
            "status": r.status,
            "execution_time": r.execution_time,
            "message": r.message,
        }
        for r in result.results
    ]
    with db.connect(url, attempts=2) as conn:
        run_records.ensure_tables(conn)
        run_records.save_dbt_results(conn, params["run_id"], FRESHNESS_COMMAND, results)
    for item in results:
        logger.info("Freshness of %s: %s", item["unique_id"].removeprefix("source."), item["status"])
    stale = [item["unique_id"].removeprefix("source.sellout.") for item in results if item["status"] in STALE]
    if result.error and not results:
        raise AirflowFailException(f"dbt source freshness could not run: {result.error}")
    if stale:
        reason = wait_reason(context["params"])
        message = f"Stale sources (no load within their error_after): {', '.join(stale)}"
        if reason is None:
            raise AirflowFailException(message)
        logger.warning("%s; not stopping the run: %s", message, reason)
    return {"checked": True, "stale": stale, "results": {r["unique_id"]: r["status"] for r in results}}


# -- the data-availability check ------------------------------------------------------------------------------


def wait_reason(params: Mapping[str, Any]) -> str | None:
    """Why this run does not wait for the week's files (``None``: it waits)."""
    if params.get("dry_run"):
        return "dry run"
    if str(params.get("mode") or "incremental") == "full":
        return "full mode reloads the files already there"
    if backfill_range(params):
        return "backfill of weeks already delivered"
    if params.get("wait_for_files") is False:
        return "wait_for_files is off"
    return None


class WeekFilesTrigger(BaseTrigger):
    """Polls :func:`check_week_files` in the triggerer until the files are there or ``end_at`` passes."""

    def __init__(
        self, project_path: str, env: str, require: str, poke_interval_s: float, end_at: float, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.project_path = project_path
        self.env = env
        self.require = require
        self.poke_interval_s = poke_interval_s
        self.end_at = end_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{__name__}.WeekFilesTrigger",
            {
                "project_path": self.project_path,
                "env": self.env,
                "require": self.require,
                "poke_interval_s": self.poke_interval_s,
                "end_at": self.end_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:  # the triggerer reads the same Airflow connections as the workers
            await asyncio.to_thread(export_connections)
        except Exception as exc:  # noqa: BLE001 - the variables may be set directly
            self.log.warning("Airflow connections not read: %s", type(exc).__name__)
        while True:
            try:
                status = await asyncio.to_thread(check_week_files, self.project_path, self.env, self.require)
            except Exception as exc:  # noqa: BLE001 - a NAS share or database that blinks is retried
                status = {"ready": False, "error": f"{type(exc).__name__}: {exc}"}
            if status["ready"]:
                yield TriggerEvent({"status": "ready", "check": status})
                return
            if time.time() + self.poke_interval_s > self.end_at:
                yield TriggerEvent({"status": "timeout", "check": status})
                return
            self.log.info(
                "Waiting for the week's files: %s", status.get("waiting_for") or status.get("error")
            )
            await asyncio.sleep(self.poke_interval_s)


class WeekFilesSensor(BaseSensorOperator):
    """Waits (deferred, no worker slot held) until the week's sell-out files are in the landing folders.

    Does not wait in dry runs, full-mode runs, backfills or when the ``wait_for_files`` param is off. On timeout
    it fails without retry; the DAG's failure callback then sends ``data_late``.
    """

    def __init__(self, *, kedro_env: str, require: str = "all", deferrable: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kedro_env = kedro_env
        self.require = require
        self.deferrable = deferrable

    def _project_path(self) -> str:
        return str(project_root())

    def on_kill(self) -> None:
        """Stop waiting when the task is terminated.

        Airflow's task runner answers SIGTERM only by calling ``on_kill`` (``task_runner._on_term``) and carries
        on: a sensor that does nothing here keeps poking (or, under ``airflow dags test``, keeps its trigger
        running in-process) until it is killed. Raising :class:`AirflowTaskTerminated` from here ends the wait
        at once, wherever it is (a sleep between pokes, the trigger's ``asyncio.sleep``); the task runner records
        the try as failed. On an execution timeout Airflow calls ``on_kill`` too and then raises its own
        :class:`AirflowTaskTimeout`, which is left to it.
        """
        if isinstance(sys.exc_info()[1], AirflowTaskTimeout):
            return
        self.log.warning("Stopped waiting for the week's files: the task was terminated (SIGTERM)")
        raise AirflowTaskTerminated(f"{self.task_id} was terminated while waiting for the week's files")

    def poke(self, context) -> bool:
        status = check_week_files(self._project_path(), self.kedro_env, self.require)
        self.log.info("Week's files: %s", status)
        return status["ready"]

    def execute(self, context) -> dict[str, Any]:
        reason = wait_reason(context["params"])
        if reason:
            self.log.info("Not waiting for the week's files: %s", reason)
            return {"waited": False, "reason": reason}
        export_connections()
        status = check_week_files(self._project_path(), self.kedro_env, self.require)
        if status["ready"]:
            self.log.info("The week's files are there: %s", status["new_files"])
            return {"waited": False, "check": status}
        if not self.deferrable:
            super().execute(context)
            return {"waited": True}
        self.log.info("Waiting for the week's files from %s (deferred)", status["waiting_for"])
        self.defer(
            trigger=WeekFilesTrigger(
                project_path=self._project_path(),
                env=self.kedro_env,
                require=self.require,
                poke_interval_s=float(self.poke_interval),
                end_at=time.time() + float(self.timeout),
            ),
            method_name="execute_complete",
            # The trigger ends itself at end_at; this is the safety net if the triggerer was down.
            timeout=timedelta(seconds=float(self.timeout) + 2 * float(self.poke_interval)),
        )
        return {}  # pragma: no cover - defer() raises

    def execute_complete(self, context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        event = event or {}
        if event.get("status") != "ready":
            check = event.get("check") or {}
            raise AirflowSensorTimeout(
                f"The week's files did not arrive within {timedelta(seconds=float(self.timeout))}: "
                f"no new sell-out file from {check.get('waiting_for') or check.get('error')}"
            )
        return {"waited": True, "check": event["check"]}


# -- notifications --------------------------------------------------------------------------------------------


def _notify(kind: str, run_id: str, summary: dict[str, Any]) -> bool:
    """Hand a DAG event to the alert router (:func:`sellout.ops.alerts.send_alert`); never breaks a callback."""
    try:
        delivered = alerts.send_alert(
            kind, run_id=run_id, summary=summary, env=kedro_env("local"), project_path=project_root()
        )
    except Exception as exc:  # noqa: BLE001 - a notifier must never break a callback
        logger.error("Alert %s for run %s NOT sent: %s: %s", kind, run_id, type(exc).__name__, exc)
        return False
    logger.info("Alert %s for run %s handed to the notifier: %s", kind, run_id, delivered)
    return True


def _run_summary(context: Mapping[str, Any]) -> dict[str, Any]:
    params = dict(context.get("params") or {})
    dag = context.get("dag")
    ti = context.get("ti") or context.get("task_instance")
    summary: dict[str, Any] = {
        "dag_id": getattr(dag, "dag_id", None),
        "pipeline": "__default__",
        "mode": params.get("mode"),
        "dry_run": bool(params.get("dry_run", False)),
        "reason": context.get("reason"),
    }
    backfill = {k: params.get(k) for k in ("backfill_from", "backfill_to") if params.get(k)}
    if backfill:
        summary["backfill"] = backfill
    if ti is not None:
        summary["task_id"] = getattr(ti, "task_id", None)
    return summary


def on_dag_failure(context: Mapping[str, Any]) -> None:
    """DAG failure callback: ``data_late`` (sensor, stale sources), ``dbt_test_failed`` (dbt test) or
    ``run_failed``."""
    summary = _run_summary(context)
    task_id = summary.get("task_id")
    kind = {
        SENSOR_TASK_ID: "data_late",
        FRESHNESS_TASK_ID: "data_late",
        DBT_TEST_TASK_ID: "dbt_test_failed",
    }.get(task_id, "run_failed")
    summary["status"] = "failed"
    summary["error"] = (
        f"task {task_id} failed ({summary.get('reason')})" if task_id else summary.get("reason")
    )
    _notify(kind, str(context.get("run_id")), summary)


def on_dag_success(context: Mapping[str, Any]) -> None:
    """DAG success callback: ``run_succeeded``, unless the DAG's run-end task has sent it already (with the rows
    and the Tableau refresh it knows of), so that a run is announced once."""
    dag = context.get("dag")
    if RUN_END_TASK_ID in (getattr(dag, "task_ids", None) or ()):
        logger.info(
            "run_succeeded for run %s was sent by the %s task", context.get("run_id"), RUN_END_TASK_ID
        )
        return
    summary = {**_run_summary(context), "status": "succeeded"}
    _notify("run_succeeded", str(context.get("run_id")), summary)


async def forecast_late(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Deadline-alert callback (runs in the triggerer): the forecast was not published by its time."""
    context = context or {}
    dag_run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    summary = {
        "dag_id": dag_run.get("dag_id"),
        "status": "late",
        "state": dag_run.get("state"),
        "deadline": str(deadline.get("deadline_time")),
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **kwargs,
    }
    await asyncio.to_thread(_notify, "forecast_late", str(dag_run.get("run_id")), summary)


# -- Airflow 3.3's `dags test` and deadline alerts ------------------------------------------------------------


def accept_serialized_deadline_alerts() -> bool:
    """Let ``DeadlineAlert.get_by_id`` take a deadline alert in its serialized form too; True once applied.

    Airflow 3.3.0 ... 3.3.2 (apache/airflow#73428; fix proposed in #73430, in no release yet): ``DAG.test()`` --
    what ``airflow dags test`` runs -- builds its scheduler DAG by serializing and deserializing the DAG in memory,
    so ``dag.deadline`` holds the encoded alerts (dicts) instead of the ids of ``deadline_alert`` rows that the
    dag-processor writes for the real scheduler. When the run succeeds, ``DagRun.update_state`` hands each entry
    to ``DeadlineAlert.get_by_id`` to decide whether to prune the run's deadlines; a dict fails in SQLAlchemy's
    Uuid type (``'dict' object has no attribute 'hex'``), the command exits 1 and the DagRun stays ``running``.

    The scheduler never passes a dict (its DAG comes from the database), so this changes nothing there: an id
    is still looked up as before. A dict is decoded the way the proposed fix does, into a transient
    ``DeadlineAlert`` (never added to a session) whose ``reference_class`` tells ``update_state`` what it needs.
    The DAG file imports this module, so every process that parses the DAG -- ``airflow dags test`` included --
    has it. Remove it once a fixed Airflow is pinned (``tests/airflow/test_dags_test.py`` tells).
    """
    if getattr(DeadlineAlertRecord.get_by_id, "accepts_serialized", False):
        return True
    lookup = DeadlineAlertRecord.get_by_id  # the original, bound to the class; it opens its own session

    def get_by_id(deadline_alert_id, *args: Any, **kwargs: Any) -> DeadlineAlertRecord:
        if isinstance(deadline_alert_id, Mapping):
            data = deadline_alert_id.get(Encoding.VAR, deadline_alert_id)
            return DeadlineAlertRecord(
                name=data.get(DeadlineAlertFields.NAME),
                reference=data[DeadlineAlertFields.REFERENCE],
                interval=data[DeadlineAlertFields.INTERVAL],
                callback_def=data[DeadlineAlertFields.CALLBACK],
            )
        return lookup(deadline_alert_id, *args, **kwargs)

    get_by_id.accepts_serialized = True  # type: ignore[attr-defined]
    get_by_id.__wrapped__ = lookup  # type: ignore[attr-defined]
    DeadlineAlertRecord.get_by_id = staticmethod(get_by_id)
    return True


accept_serialized_deadline_alerts()
