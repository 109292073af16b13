"""The programmatic entry point: run a named pipeline in a given mode and get its summary back.

For notebooks and other tools::

    from sellout.api import run_pipeline
    summary = run_pipeline("__default__", mode="incremental")
    summary.run_id, summary.status, summary.outputs["ingestion_status"]
    print(summary.describe())            # what `sellout run` prints

    # plan and check only, write nothing: the plan is in summary.outputs["dry_run_plan"]
    summary = run_pipeline("__default__", dry_run=True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro.framework.project import configure_project, pipelines
from kedro.framework.session import KedroSession
from kedro.io.core import generate_timestamp

from sellout.config.loader import project_root
from sellout.config.run import RUN_MODES, run_file_name
from sellout.ops.dry_run import DryRunner
from sellout.ops.messages import check_pipeline, explain
from sellout.ops.no_op import NothingNew
from sellout.ops.run_summary import describe

STATUS_DATASETS = (
    "ingestion_status",
    "dbt_run_status",
    "dbt_test_status",
    "forecast_write_status",
    "quality_gate_status",
    "tableau_refresh_status",
    "notification_status",
)


@dataclass
class RunSummary:
    run_id: str
    pipeline: str
    mode: str
    env: str
    status: str
    duration_s: float
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    # what a person should know besides the status (a no-op run says since when nothing is new)
    note: str | None = None
    # the exception behind ``error`` (for --verbose); not part of the JSON
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "exception"}

    def describe(self) -> str:
        """A few lines for a person: what ran, what went in and out, where the report and the records are."""
        return describe(self.as_dict())


def run_pipeline(
    pipeline: str = "__default__",
    mode: str = "incremental",
    *,
    env: str | None = None,
    run_id: str | None = None,
    dry_run: bool = False,
    params: dict[str, Any] | None = None,
    project_path: Path | str | None = None,
    conf_source: str | None = None,
    raise_on_error: bool = True,
) -> RunSummary:
    """Run ``pipeline`` in ``mode`` (incremental or full) and return what it did.

    With ``raise_on_error=False`` every failure, including one before the run starts (configuration, an unknown
    pipeline, the run lock), is in the summary (``status`` failed, ``error`` the message a person reads).
    """
    if mode not in RUN_MODES:
        raise ValueError(f"mode must be one of {RUN_MODES}, got {mode!r}")
    project_path = Path(project_path) if project_path else project_root()
    configure_project("sellout")
    # The run id is fixed before the session starts so that the summary reads this run's status records.
    runtime_params = {
        **(params or {}),
        "mode": mode,
        "dry_run": dry_run,
        "run_id": run_id or generate_timestamp(),
    }
    started = time.monotonic()
    summary = RunSummary(runtime_params["run_id"], pipeline, mode, env or "local", "failed", 0.0)
    # A dry run plans and checks instead of running nodes (sellout.ops.dry_run); it writes nothing.
    runner = DryRunner(project_path=project_path) if dry_run else None
    try:
        check_pipeline(pipeline, pipelines.keys())
        with KedroSession.create(
            project_path=project_path, env=env, runtime_params=runtime_params, conf_source=conf_source
        ) as session:
            context = session.load_context()
            catalog = context.catalog
            summary.env = context.env or summary.env
            try:
                session.run(pipeline_names=[pipeline], runner=runner)
            finally:
                summary.outputs = _outputs(catalog, runner, summary.run_id)
        summary.status = "succeeded"
    except NothingNew as nothing:
        summary.status, summary.note = "noop", str(nothing)
    except Exception as exc:  # noqa: BLE001 - reported in the summary, re-raised below when asked
        summary.error, summary.exception = explain(exc, summary.run_id), exc
        if raise_on_error:
            raise
    finally:
        summary.duration_s = round(time.monotonic() - started, 2)
    return summary


def _outputs(catalog, runner: DryRunner | None, run_id: str) -> dict[str, Any]:
    """The dry-run plan, or this run's status records (a stage that did not run has none)."""
    if runner is not None:
        return {"dry_run_plan": runner.plan.to_dict()} if runner.plan is not None else {}
    outputs = {}
    for name in STATUS_DATASETS:
        try:
            value = catalog.load(name)
        except Exception:  # noqa: BLE001 - not written (yet) by this run
            continue
        if isinstance(value, dict) and value.get("run_id") == run_id:
            outputs[name] = value
    report = _report_path(catalog, run_id)
    if report is not None:
        outputs["report"] = report
    return outputs


def _report_path(catalog, run_id: str) -> str | None:
    """This run's HTML report, when the run wrote one."""
    try:
        folder = Path(catalog.get("forecast_report")._describe()["path"])
    except Exception:  # noqa: BLE001 - a catalog without the report
        return None
    path = folder / f"{run_file_name(run_id)}.html"
    return str(path) if path.is_file() else None
