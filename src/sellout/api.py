"""The programmatic entry point: run a named pipeline in a given mode and get its summary back.

For notebooks and other tools::

    from sellout.api import run_pipeline
    summary = run_pipeline("__default__", mode="incremental")
    summary.run_id, summary.status, summary.outputs["ingestion_status"]

    # plan and check only, write nothing: the plan is in summary.outputs["dry_run_plan"]
    summary = run_pipeline("__default__", dry_run=True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro.framework.project import configure_project
from kedro.framework.session import KedroSession
from kedro.io.core import generate_timestamp

from sellout.config.loader import project_root
from sellout.config.run import RUN_MODES
from sellout.ops.dry_run import DryRunner

STATUS_DATASETS = (
    "ingestion_status",
    "dbt_run_status",
    "dbt_test_status",
    "forecast_write_status",
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
    """Run ``pipeline`` in ``mode`` (incremental or full) and return what it did."""
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
    # A dry run plans and checks instead of running nodes (sellout.ops.dry_run); it writes nothing.
    runner = DryRunner(project_path=project_path) if dry_run else None
    with KedroSession.create(
        project_path=project_path, env=env, runtime_params=runtime_params, conf_source=conf_source
    ) as session:
        context = session.load_context()
        catalog = context.catalog
        run_context = catalog.load("run_context")
        error: Exception | None = None
        try:
            session.run(pipeline_names=[pipeline], runner=runner)
        except Exception as exc:  # noqa: BLE001 - reported in the summary, re-raised below when asked
            error = exc
        outputs = {}
        if runner is not None and runner.plan is not None:
            outputs["dry_run_plan"] = runner.plan.to_dict()
        for name in STATUS_DATASETS if runner is None else ():
            try:
                value = catalog.load(name)
            except Exception:  # noqa: BLE001 - a stage that did not run has no status yet
                continue
            if isinstance(value, dict) and value.get("run_id") == run_context["run_id"]:
                outputs[name] = value
    summary = RunSummary(
        run_id=run_context["run_id"],
        pipeline=pipeline,
        mode=mode,
        env=run_context["env"],
        status="failed" if error else "succeeded",
        duration_s=round(time.monotonic() - started, 2),
        outputs=outputs,
        error=str(error).splitlines()[0] if error else None,
    )
    if error and raise_on_error:
        raise error
    return summary
