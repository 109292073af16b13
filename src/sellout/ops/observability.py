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

import contextlib
import functools
import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from kedro.framework.hooks import hook_impl

from sellout.config.project import ProjectConfig
from sellout.config.secrets import Redactor, install_log_filter, redact_url
from sellout.integrations import db
from sellout.integrations.alert_events import first_lines
from sellout.integrations.alerting import AlertRouter
from sellout.ops import run_records
from sellout.ops.status import consecutive_failures

logger = logging.getLogger(__name__)
RUNLOG = "sellout.runlog"
MAX_WRITE_FAILURES = 3
ROW_KEYS = ("rows", "rows_loaded", "rows_written")
DBT_STATUS_DATASETS = {"dbt_run_status": "run", "dbt_test_status": "test"}
# Exceptions whose class name says "dbt test failed" get their own alert besides run_failed.
DBT_TEST_FAILURE = "DbtTestFailedError"


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


def _now() -> datetime:
    return datetime.now(UTC)


class _RecordWriter:
    """One autocommit connection per session, opened lazily; failures are logged and counted, never raised."""

    def __init__(self, url_factory, redactor: Redactor) -> None:
        self._url_factory = url_factory
        self._redact = redactor
        self._conn = None
        self._url: str | None = None
        self._failures = 0
        self._lock = threading.Lock()
        self.disabled = False

    def __call__(self, what: str, write, *args) -> bool:
        if self.disabled:
            return False
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._url = self._url_factory()
                    self._conn = db.connect(self._url, attempts=2, base_delay=0.2, autocommit=True)
                    with self._conn.transaction():
                        run_records.ensure_tables(self._conn)
                with self._conn.transaction():
                    write(self._conn, *args)
                return True
            except Exception as exc:  # noqa: BLE001 - a run record must never fail the run
                self._failures += 1
                message = self._redact(redact_url(f"{type(exc).__name__}: {exc}", self._url))
                logger.warning("Run record %s not written: %s", what, first_lines(message, lines=2))
                self.close()
                if self._failures >= MAX_WRITE_FAILURES:
                    self.disabled = True
                    logger.warning(
                        "Run records disabled for the rest of this session after %d failed writes",
                        self._failures,
                    )
                return False

    def read(self, what: str, query, *args):
        """Run ``query(conn, *args)`` and return its value; ``None`` when the records cannot be read."""
        result: list[Any] = []
        self(what, lambda conn, *a: result.append(query(conn, *a)), *args)
        return result[0] if result else None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._conn.close()
            self._conn = None


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
        self._node_rows_in: dict[str, int | None] = {}
        self.nodes_done: list[dict[str, Any]] = []
        self._writer: _RecordWriter | None = None

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
        self._writer = _RecordWriter(self._db_url, self.redactor)
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
        self.log.info("run_started", **self._base(), nodes=len(pipeline.nodes))

    @hook_impl
    @_guarded
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline, catalog) -> None:
        self._end_run(None)

    @hook_impl
    @_guarded
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        message = self._error_text(error)
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
        if os.environ.get("AIRFLOW_CTX_DAG_RUN_ID"):
            # Under Airflow the task's failure callback sends run_failed (once per DAG run, after retries).
            logger.info("run_failed alert left to Airflow's failure callback")
            return
        self.router.send("run_failed", run_id=self._run_id, summary=summary, run_context=self.run_context)

    def _end_run(self, error: str | None) -> None:
        if self._writer is None:
            return
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
        name = node.name
        self._node_started[name] = time.monotonic()
        self._node_start_time[name] = _now()
        self._node_rows_in[name] = _sum_rows(inputs)
        if self._writer is not None:
            self._writer("node_runs start", run_records.start_node, self._node_record(node, "running"))

    @hook_impl
    @_guarded
    def after_node_run(
        self, node, catalog, inputs, outputs: dict[str, Any], is_async: bool, run_id: str
    ) -> None:
        record = self._node_record(node, run_records.SUCCEEDED, rows_out=_sum_rows(outputs))
        self._finish_node(record)
        for dataset, command in DBT_STATUS_DATASETS.items():
            status = outputs.get(dataset)
            if isinstance(status, dict) and status.get("results") and self._writer is not None:
                results = [self.redactor(r) for r in status["results"]]
                self._writer(
                    f"dbt_results {command}", run_records.save_dbt_results, self._run_id, command, results
                )

    @hook_impl
    @_guarded
    def on_node_error(self, error: Exception, node, catalog, inputs, is_async: bool, run_id: str) -> None:
        message = self._error_text(error)
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
        return {
            "run_id": self._run_id,
            "node": name,
            "pipeline": self.pipeline,
            "status": status,
            "started_at": self._node_start_time.get(name) or _now(),
            "ended_at": _now() if done else None,
            "duration_s": round(time.monotonic() - started, 3) if done and started else None,
            "rows_in": self._node_rows_in.get(name),
            "rows_out": rows_out,
            "inputs": [d for d in node.inputs if not _is_param(d)],
            "outputs": list(node.outputs),
            "error": error,
        }

    # ---------------------------------------------------------------------------------------- helpers
    @property
    def _run_id(self) -> str | None:
        return self.run_context.get("run_id")

    def _base(self) -> dict[str, Any]:
        return {"run_id": self._run_id, "pipeline": self.pipeline, "env": self.run_context.get("env")}

    def _error_text(self, error: BaseException) -> str:
        return self.redactor(first_lines(error))
