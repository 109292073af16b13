"""Observability hooks: structured JSON logs, run records in ``ops.*``, alerts on failure.

For every Kedro session (a ``kedro run``, or one Airflow task of a DAG run):

- a JSON log line (structlog, logger ``sellout.runlog``) when the run starts and ends and when each node ends,
  with ``run_id``, ``pipeline``, ``node``, ``duration_s``, ``rows_in``/``rows_out`` and ``status``;
- rows in ``ops.pipeline_runs`` and ``ops.node_runs`` (start, end, status, duration, rows in/out, error, the
  datasets each node read and wrote) and dbt's per-model results in ``ops.dbt_results``: see
  :mod:`sellout.ops.run_records`;
- ``run_failed`` (and ``dbt_test_failed``) alerts through :mod:`sellout.ops.alerts`; ``alert_routes`` is put into
  the catalog for the publish nodes.

Policy: observability never changes a run's outcome. When the database cannot take a record the hook logs a
WARNING (without the URL's password) and the run goes on; after 3 failed writes in a session it stops trying
for the rest of that session (so a database that is down does not add a retry delay to every node). Every text
that goes into a record, a log line or an alert passes through the secret redactor built from the credentials.

Rows: a DataFrame counts its rows; a status record (a dict) counts ``rows``/``rows_loaded``/``rows_written``;
other values (models, settings) count nothing.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from kedro.framework.hooks import hook_impl

from sellout.config.parameters import RunControlParams
from sellout.config.project import ProjectConfig
from sellout.config.secrets import Redactor, install_log_filter
from sellout.integrations import db
from sellout.integrations.alert_events import first_lines
from sellout.integrations.alerting import AlertRouter
from sellout.ops import run_records
from sellout.ops.record_writer import RecordWriter
from sellout.ops.status import consecutive_failures

try:
    import resource
except ImportError:  # Windows
    resource = None

logger = logging.getLogger(__name__)
RUNLOG = "sellout.runlog"
ROW_KEYS = ("rows", "rows_loaded", "rows_written")
DBT_STATUS_DATASETS = {"dbt_run_status": "run", "dbt_test_status": "test"}
# Exceptions whose class name says "dbt test failed" or "the Tableau refresh failed" get their own alert besides
# run_failed (the refresh's carries its record).
DBT_TEST_FAILURE = "DbtTestFailedError"
REFRESH_FAILURE = "TableauRefreshFailed"


def json_logger(redactor: Redactor | None = None):
    """A structlog logger that renders one JSON object per event onto the stdlib logger ``sellout.runlog``."""
    redact = redactor or Redactor()

    def redact_values(_logger, _name, event_dict):
        return redact(event_dict)

    return structlog.wrap_logger(
        logging.getLogger(RUNLOG),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_values,
            structlog.processors.JSONRenderer(default=str, sort_keys=False),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def count_rows(value: Any) -> int | None:
    if hasattr(value, "shape") and hasattr(value, "__len__"):
        return len(value)
    if isinstance(value, dict):
        for key in ROW_KEYS:
            if isinstance(value.get(key), int) and not isinstance(value.get(key), bool):
                return int(value[key])
    return None


def _sum_rows(values: dict[str, Any]) -> int | None:
    counts = [count_rows(v) for name, v in values.items() if not _is_param(name)]
    counts = [c for c in counts if c is not None]
    return sum(counts) if counts else None


def _is_param(name: str) -> bool:
    return name == "parameters" or name.startswith("params:")


def _guarded(method):
    """A hook that fails logs a warning and lets the run go on: observability never changes the outcome."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            logger.warning(
                "Observability hook %s failed: %s",
                method.__name__,
                self.redactor(f"{type(exc).__name__}: {exc}"),
            )
            return None

    return wrapper


def peak_rss_mb() -> float | None:
    """The process's resident-memory high-water mark so far, in MB (None where the platform does not say).

    On Linux it is VmHWM: getrusage's ru_maxrss also keeps the high-water mark of the process that forked this
    one (the kernel carries it across exec), so a run spawned by a large process would report that one's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    if resource is None:
        return None
    kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kilobytes / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)  # macOS counts bytes


def _now() -> datetime:
    return datetime.now(UTC)


class ObservabilityHooks:
    def __init__(self) -> None:
        self._reset()
        self.router = AlertRouter()
        self.redactor = Redactor()
        self._credentials: dict[str, Any] = {}
        self.log = json_logger()

    def _reset(self) -> None:
        self.run_context: dict[str, Any] = {}
        self.pipeline = "__default__"
        self._started = 0.0
        self._node_started: dict[str, float] = {}
        self._node_start_time: dict[str, datetime] = {}
        # A node's time runs from the load of its first input to the save of its last output (Kedro loads a node's
        # inputs before its before_node_run hook and saves its outputs after after_node_run): each side's clock
        # (monotonic, wall) is taken there, so that a stage is not charged for the next one's loads.
        self._loading_since: dict[str, tuple[float, datetime]] = {}
        self._done_at: dict[str, tuple[float, datetime]] = {}
        self._node_rows_in: dict[str, int | None] = {}
        self.nodes_done: list[dict[str, Any]] = []
        # nodes that returned but whose outputs may still be being saved: succeeded once the next node starts or
        # the run ends, failed if the run fails first (a generator node saves while it runs)
        self._saving: dict[str, Any] = {}
        # the memory high-water mark when each node returned: what loading its inputs and running it needed
        # (Kedro saves a node's outputs, then loads the next node's inputs, before the next node's hook)
        self._returned_peak_mb: dict[str, float | None] = {}
        self._high_water_mb: float | None = None
        self._rows_saved: dict[str, int] = {}
        self._writer: RecordWriter | None = None
        self._heartbeat_s = 30.0

    # ------------------------------------------------------------------------------- context and catalog
    @hook_impl
    def after_context_created(self, context) -> None:
        project = ProjectConfig.of_context(context)
        self._credentials = project.credentials
        self.redactor = project.redactor
        self.router = AlertRouter(project.notifications, self.redactor)
        install_log_filter(self.redactor)
        self.log = json_logger(self.redactor)

    def _db_url(self) -> str:
        return db.resolve_url(self._credentials.get("db"))

    # ------------------------------------------------------------------------------------ pipeline
    @hook_impl
    @_guarded
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._reset()
        self.run_context = dict(catalog.load("run_context"))
        self.pipeline = ",".join(run_params.get("pipeline_names") or ["__default__"])
        self._started = time.monotonic()
        self._writer = RecordWriter(self._db_url, self.redactor)
        # a dry run writes nothing, run records included (not even the tables they would go into)
        self._writer.disabled = bool(self.run_context.get("dry_run"))
        run = {
            "run_id": self.run_context["run_id"],
            "pipeline": self.pipeline,
            "env": self.run_context.get("env"),
            "mode": self.run_context.get("mode"),
            "dry_run": bool(self.run_context.get("dry_run")),
            "started_at": _now(),
        }
        self._writer("pipeline_runs start", run_records.start_run, run)
        if not self._writer.disabled:
            settings = RunControlParams.of(_load_or_none(catalog, "params:run_control"), "run_control")
            self._writer.start_heartbeat(self.run_context["run_id"], settings.heartbeat_s)
        self.log.info("run_started", **self._base(), nodes=len(pipeline.nodes))

    @hook_impl
    @_guarded
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline, catalog) -> None:
        self._outputs_saved()
        self._end_run(None)

    @hook_impl
    @_guarded
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        message = self._error_text(error)
        for node in self._saving.values():  # the run failed while these nodes' outputs were being saved
            self._finish_node(
                self._node_record(node, run_records.FAILED, error=f"while saving its outputs: {message}")
            )
        self._saving.clear()
        repeated = None
        if self._writer is not None:
            self._writer("pipeline_runs end", run_records.end_run, self._run_id, _now(), message)
            repeated = self._writer.read("consecutive failures", consecutive_failures, self.pipeline)
        self._end_run(message)
        failed = [n for n in self.nodes_done if n["status"] == run_records.FAILED]
        summary = {
            **self._totals(),
            "status": "failed",
            "error": message,
            "failed_node": failed[-1]["node"] if failed else None,
            "nodes": [n["node"] for n in self.nodes_done],
            "consecutive_failures": repeated,
        }
        refresh = cause_named(error, REFRESH_FAILURE)
        if refresh is not None:
            self.router.send(
                "refresh_failed",
                run_id=self._run_id,
                summary={
                    **summary,
                    "failed_node": "refresh_tableau",
                    "tableau": getattr(refresh, "record", None),
                },
                run_context=self.run_context,
            )
        if os.environ.get("AIRFLOW_CTX_DAG_RUN_ID"):
            # Under Airflow the task's failure callback sends run_failed (once per DAG run, after retries).
            logger.info("run_failed alert left to Airflow's failure callback")
            return
        self.router.send("run_failed", run_id=self._run_id, summary=summary, run_context=self.run_context)

    def _end_run(self, error: str | None) -> None:
        if self._writer is None:
            return
        self._writer.stop_heartbeat()
        self._writer("pipeline_runs end", run_records.end_run, self._run_id, _now(), error)
        totals = self._totals()
        self.log.info(
            "run_failed" if error else "run_finished",
            **{**self._base(), **totals},
            status="failed" if error else "succeeded",
            error=error,
        )
        self._writer.close()

    def _totals(self) -> dict[str, Any]:
        def total(key: str) -> int | None:
            values = [n[key] for n in self.nodes_done if n.get(key) is not None]
            return sum(values) if values else None

        return {
            "pipeline": self.pipeline,
            "duration_s": round(time.monotonic() - self._started, 3) if self._started else None,
            "rows_in": total("rows_in"),
            "rows_out": total("rows_out"),
        }

    # ---------------------------------------------------------------------------------------- nodes
    @hook_impl
    @_guarded
    def before_node_run(self, node, catalog, inputs: dict[str, Any], is_async: bool, run_id: str) -> None:
        self._outputs_saved()
        name = node.name
        self._node_started[name], self._node_start_time[name] = self._loading_since.pop(
            name, (time.monotonic(), _now())
        )
        self._node_rows_in[name] = _sum_rows(inputs)
        if self._writer is not None:
            self._writer("node_runs start", run_records.start_node, self._node_record(node, "running"))

    @hook_impl
    @_guarded
    def after_node_run(
        self, node, catalog, inputs, outputs: dict[str, Any], is_async: bool, run_id: str
    ) -> None:
        """The node returned; it succeeds once its outputs are saved (Kedro saves them after this hook)."""
        self._saving[node.name] = node
        self._returned_peak_mb[node.name] = self._high_water()
        self._done_at[node.name] = (time.monotonic(), _now())
        self._rows_saved[node.name] = _sum_rows(outputs) or 0
        for dataset, command in DBT_STATUS_DATASETS.items():
            status = outputs.get(dataset)
            if isinstance(status, dict) and status.get("results") and self._writer is not None:
                results = [self.redactor(r) for r in status["results"]]
                self._writer(
                    f"dbt_results {command}", run_records.save_dbt_results, self._run_id, command, results
                )

    @hook_impl
    @_guarded
    def before_dataset_loaded(self, dataset_name: str, node) -> None:
        if node is not None:
            self._loading_since.setdefault(node.name, (time.monotonic(), _now()))

    @hook_impl
    @_guarded
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        if node is not None and node.name in self._saving:
            self._done_at[node.name] = (time.monotonic(), _now())
            if inspect.isgeneratorfunction(node.func):  # a generator's outputs arrive one by one
                self._rows_saved[node.name] += count_rows(data) or 0

    def _outputs_saved(self) -> None:
        """Every node that returned has had its outputs saved (the next node starts, or the run ended)."""
        for name, node in list(self._saving.items()):
            rows = self._rows_saved.pop(name, 0) or None
            self._finish_node(self._node_record(node, run_records.SUCCEEDED, rows_out=rows))
        self._saving.clear()

    @hook_impl
    @_guarded
    def on_node_error(self, error: Exception, node, catalog, inputs, is_async: bool, run_id: str) -> None:
        message = self._error_text(error)
        self._loading_since.pop(node.name, None)
        self._finish_node(self._node_record(node, run_records.FAILED, error=message))
        if type(error).__name__ == DBT_TEST_FAILURE:
            summary = {**self._totals(), "error": message, "failed_node": node.name}
            self.router.send(
                "dbt_test_failed", run_id=self._run_id, summary=summary, run_context=self.run_context
            )

    def _finish_node(self, record: dict[str, Any]) -> None:
        self.nodes_done.append(record)
        if self._writer is not None:
            self._writer("node_runs end", run_records.end_node, record)
        self.log.info(
            "node_failed" if record["status"] == run_records.FAILED else "node_finished",
            **self._base(),
            node=record["node"],
            status=record["status"],
            duration_s=record["duration_s"],
            rows_in=record["rows_in"],
            rows_out=record["rows_out"],
            inputs=record["inputs"],
            outputs=record["outputs"],
            error=record["error"],
        )

    def _node_record(self, node, status: str, *, rows_out: int | None = None, error: str | None = None):
        name = node.name
        started = self._node_started.get(name)
        done = status != "running"
        ended, ended_at = (None, None)
        if done:
            ended, ended_at = self._done_at.pop(name, None) or (time.monotonic(), _now())
        return {
            "run_id": self._run_id,
            "node": name,
            "pipeline": self.pipeline,
            "status": status,
            "started_at": self._node_start_time.get(name) or _now(),
            "ended_at": ended_at,
            "duration_s": round(ended - started, 3) if done and started is not None else None,
            "rows_in": self._node_rows_in.get(name),
            "rows_out": rows_out,
            "inputs": [d for d in node.inputs if not _is_param(d)],
            "outputs": list(node.outputs),
            "error": error,
            "peak_rss_mb": self._returned_peak_mb.pop(name, None) or self._high_water() if done else None,
        }

    # ---------------------------------------------------------------------------------------- helpers
    def _high_water(self) -> float | None:
        """The largest high-water mark read so far in this run: the kernel updates VmHWM lazily, so a later
        read can be a little lower than an earlier one (536.7 after 536.8 MB, seen in a test)."""
        now = peak_rss_mb()
        if now is not None:
            self._high_water_mb = max(now, self._high_water_mb or 0.0)
        return self._high_water_mb

    @property
    def _run_id(self) -> str | None:
        return self.run_context.get("run_id")

    def _base(self) -> dict[str, Any]:
        return {"run_id": self._run_id, "pipeline": self.pipeline, "env": self.run_context.get("env")}

    def _error_text(self, error: BaseException) -> str:
        return self.redactor(first_lines(error))


def _load_or_none(catalog, name: str) -> Any:
    try:
        return catalog.load(name)
    except Exception:  # noqa: BLE001 - a catalog without the entry (tests, other projects): defaults apply
        return None


def cause_named(error: BaseException | None, class_name: str) -> BaseException | None:
    """The first exception in ``error``'s chain (itself, its cause, its context) of that class name."""
    seen = set()
    while error is not None and id(error) not in seen:
        if type(error).__name__ == class_name:
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
