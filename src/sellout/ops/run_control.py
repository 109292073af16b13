"""Run control: a run takes the database's run lock before it writes, finds the runs that were killed, and stops
at once when nothing is new.

On the way in (before any node), a run that writes (not a dry run) takes the run lock (:mod:`sellout.ops.run_lock`),
waiting for or refusing to meet another run, as ``params:run_control`` says. Holding it, it marks the runs still
``running`` whose heartbeat stopped as ``abandoned``: nobody else can be running, so they were killed. Then an
incremental run that finds nothing new (:mod:`sellout.ops.no_op`) records itself as ``noop`` and stops with
:class:`~sellout.ops.no_op.NothingNew`. The lock is released after the run's records are written, whether it
succeeded or failed; a succeeded run first records its fingerprint, which the next run compares with. The
landing files' hashes that the fingerprint and the ingestion read are kept between runs in the data folder
(``landing_hashes.json``, :func:`sellout.ingest.landing.load_known_hashes`): a run reads only new or changed files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from sellout.config.parameters import RunControlParams
from sellout.config.project import ProjectConfig
from sellout.ingest import landing
from sellout.integrations import db
from sellout.ops import no_op, run_records
from sellout.ops.run_lock import RunLock

logger = logging.getLogger(__name__)

LANDING_HASHES_FILE = "landing_hashes.json"


class RunControlHooks:
    def __init__(self) -> None:
        self._project: ProjectConfig | None = None
        self._lock: RunLock | None = None
        self._url: str | None = None
        self._run: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project = ProjectConfig.of_context(context)

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        run_context = catalog.load("run_context")
        if run_context["dry_run"]:
            return
        settings = RunControlParams.of(_params(catalog), "run_control")
        # only a run's way in starts the embedded server
        self._url = db.start_if_embedded(self._project.credentials.get("db"))
        lock = RunLock(
            self._url,
            run_context["run_id"],
            wait=settings.lock == "wait",
            poll_s=settings.lock_poll_s,
            timeout_s=settings.lock_timeout_s,
        )
        lock.acquire()
        self._lock = lock
        landing.load_known_hashes(self._hashes_file())
        self._run = {**run_context, "pipeline": ",".join(run_params.get("pipeline_names") or ["__default__"])}
        with db.connect(self._url, attempts=2, autocommit=True) as conn, conn.transaction():
            run_records.ensure_tables(conn)
            abandoned = run_records.mark_abandoned(conn, settings.abandoned_after_s, run_context["run_id"])
            if abandoned:
                logger.warning(
                    "Runs that stopped without ending (killed?) are now marked abandoned: %s", abandoned
                )
            previous = self._nothing_new(conn) if no_op.can_be_no_op(run_context) else None
        _save_hashes(self._hashes_file(), self._landing_folders())
        if previous is not None:
            self._release()
            raise no_op.NothingNew(previous)

    def _nothing_new(self, conn) -> str | None:
        """The run whose forecasts stay when this run finds nothing new (recorded as a no-op), else None."""
        pipeline = self._run["pipeline"]
        now = no_op.fingerprint(self._project, pipeline, conn)
        if no_op.last_fingerprint(conn, pipeline, self._run["run_id"]) != now:
            return None
        no_op.record_no_op(conn, self._run, now)
        return no_op.last_succeeded(conn, pipeline) or "earlier"

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline, catalog) -> None:
        if self._lock is None:  # a dry run: no lock, no record
            return
        try:  # what this run ended with: the next run that finds the same has nothing to do
            with db.connect(self._url, attempts=2, autocommit=True) as conn:
                pipeline_name = self._run["pipeline"]
                ended_with = no_op.fingerprint(self._project, pipeline_name, conn)
                no_op.store_fingerprint(conn, self._run["run_id"], ended_with)
            _save_hashes(self._hashes_file(), self._landing_folders())
        except Exception as exc:  # noqa: BLE001 - without it the next run just runs
            logger.warning(
                "The run's fingerprint was not recorded (%s): the next run runs in full", type(exc).__name__
            )
        finally:
            self._release()

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._release()

    def _hashes_file(self) -> Path:
        """Where the landing files' hashes are kept between runs (read and written by a run that writes, not by a
        dry run)."""
        return self._project.data_dir / LANDING_HASHES_FILE

    def _landing_folders(self) -> list[Path]:
        return [Path(source.directory) for source in self._project.sources.values() if source.enabled]

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _params(catalog) -> Any:
    try:
        return catalog.load("params:run_control")
    except Exception:  # noqa: BLE001 - a catalog without the parameter: the defaults apply
        return None


def _save_hashes(path: Path, folders: list[Path]) -> None:
    try:
        landing.save_known_hashes(path, folders)
    except OSError as exc:  # the next run hashes the files again, as it would without the record
        logger.warning("The landing files' hashes were not kept (%s: %s)", type(exc).__name__, exc)
