"""The DAG's data-availability check: a sensor that waits, deferred in the triggerer, until every enabled source has
a new sell-out file in its landing folder (:func:`sellout.ops.week_files.check_week_files`)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowTaskTerminated, AirflowTaskTimeout
from airflow.triggers.base import BaseTrigger, TriggerEvent

from sellout.config.backfill import backfill_range
from sellout.config.loader import project_root
from sellout.ops.airflow_connections import export_connections
from sellout.ops.week_files import check_week_files


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
