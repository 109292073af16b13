"""Run control: a run takes the database's run lock before it writes, and finds the runs that were killed.

On the way in (before any node), a run that writes (not a dry run) takes the run lock (:mod:`sellout.ops.run_lock`),
waiting for or refusing to meet another run, as ``params:run_control`` says. Holding it, it marks the runs still
``running`` whose heartbeat stopped as ``abandoned``: nobody else can be running, so they were killed. The lock is
released after the run's records are written, whether it succeeded or failed.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from sellout.config.parameters import RunControlParams
from sellout.config.project import ProjectConfig
from sellout.integrations import db
from sellout.ops import run_records
from sellout.ops.run_lock import RunLock

logger = logging.getLogger(__name__)


class RunControlHooks:
    def __init__(self) -> None:
        self._credentials: dict[str, Any] = {}
        self._lock: RunLock | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._credentials = ProjectConfig.of_context(context).credentials

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        run_context = catalog.load("run_context")
        if run_context["dry_run"]:
            return
        settings = RunControlParams.of(_params(catalog), "run_control")
        url = db.start_if_embedded(self._credentials.get("db"))  # only the way in starts the embedded server
        lock = RunLock(
            url,
            run_context["run_id"],
            wait=settings.lock == "wait",
            poll_s=settings.lock_poll_s,
            timeout_s=settings.lock_timeout_s,
        )
        lock.acquire()
        self._lock = lock
        with db.connect(url, attempts=2, autocommit=True) as conn, conn.transaction():
            run_records.ensure_tables(conn)
            abandoned = run_records.mark_abandoned(conn, settings.abandoned_after_s, run_context["run_id"])
        if abandoned:
            logger.warning(
                "Runs that stopped without ending (killed?) are now marked abandoned: %s", abandoned
            )

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline, catalog) -> None:
        self._release()

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _params(catalog) -> Any:
    try:
        return catalog.load("params:run_control")
    except Exception:  # noqa: BLE001 - a catalog without the parameter: the defaults apply
        return None
