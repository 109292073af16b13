"""Nodes that run dbt in-process: ``dbt run`` builds staging and marts, ``dbt test`` checks them.

``params:dbt`` keys (all optional):

- ``select``: list of dbt selectors for both commands (default: the whole project);
- ``exclude``: list of dbt selectors to leave out;
- ``full_refresh_on_full_mode``: pass ``--full-refresh`` to ``dbt run`` when the run mode is ``full``
  (default true);
- ``threads``: models and tests run at once (dbt ``--threads``, default 4);
- ``vars``: extra dbt vars (the run's id reaches dbt as ``SELLOUT_DBT_RUN_ID``, not as a var: a changed var makes
  dbt parse the whole project again).

``dbt_target`` is ``{"url": ...}`` (resolved by ``db.resolve_url``, which also accepts a plain URL or
falls back to ``SELLOUT_DB_URL`` / the embedded server). In a dry run, ``dbt_run`` only compiles the project
(the SQL is rendered and checked against the database catalog, nothing is built) and ``dbt_test`` is
skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from sellout.config.parameters import DbtParams
from sellout.integrations import db
from sellout.integrations.dbt_runner import DbtResult, run_dbt

logger = logging.getLogger(__name__)


class DbtRunFailedError(RuntimeError):
    """``dbt run`` (or compile) failed: a model did not build or dbt could not start."""


class DbtTestFailedError(RuntimeError):
    """``dbt test`` found failing data tests; the marts must not be used downstream."""


def _common_args(params: DbtParams) -> list[str]:
    """The arguments both commands take: threads, selection."""
    args: list[str] = ["--threads", str(params.threads)]
    for flag, key in (("--select", "select"), ("--exclude", "exclude")):
        value = getattr(params, key)
        if not value:
            continue
        values = [value] if isinstance(value, str) else [str(item) for item in value]
        args += [flag, *values]
    return args


def _vars(params: DbtParams) -> dict[str, Any]:
    # The run's id and mode are not dbt vars: a var that changes makes dbt parse the whole project again.
    return dict(params.vars)


def _status(result: DbtResult, run_context: dict[str, Any], count_key: str, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": run_context.get("run_id"),
        "command": " ".join(result.command),
        "success": result.success,
        count_key: len(result.results),
        "failures": len(result.failed),
        "warnings": sum(1 for node in result.results if node.status == "warn"),
        "elapsed_s": result.elapsed_s,
        "error": result.error,
        **extra,
        "results": [
            {
                "unique_id": node.unique_id,
                "status": node.status,
                "execution_time": node.execution_time,
                "rows_affected": node.rows_affected,
                "failures": node.failures,
                "message": node.message,
            }
            for node in result.results
        ],
    }


def dbt_run(
    ingestion_status: dict[str, Any],
    run_context: dict[str, Any],
    dbt_target: dict[str, Any] | str | None,
    dbt_params: DbtParams | None,
) -> dict[str, Any]:
    """Build staging views and mart tables; raise ``DbtRunFailedError`` naming the models that failed."""
    params = DbtParams.of(dbt_params, "dbt")
    url = db.resolve_url(dbt_target)
    mode = run_context.get("mode", "incremental")
    dry_run = bool(run_context.get("dry_run", False))

    command = ["compile"] if dry_run else ["run"]
    full_refresh = mode == "full" and params.full_refresh_on_full_mode and not dry_run
    if full_refresh:
        command.append("--full-refresh")
    command += _common_args(params)

    logger.info(
        "Transform for run %s (mode %s%s): %d new file(s) loaded by ingestion",
        run_context.get("run_id"),
        mode,
        ", dry run" if dry_run else "",
        (ingestion_status or {}).get("files_loaded", 0),
    )
    result = run_dbt(
        command, url, vars=_vars(params), env={"SELLOUT_DBT_RUN_ID": str(run_context.get("run_id"))}
    )
    status = _status(
        result,
        run_context,
        "models",
        mode=mode,
        dry_run=dry_run,
        full_refresh=full_refresh,
        files_loaded=(ingestion_status or {}).get("files_loaded"),
    )
    if not result.success:
        raise DbtRunFailedError(
            f"dbt {command[0]} failed for run {status['run_id']}:\n{result.describe_failures()}"
        )
    return status


def dbt_test(
    dbt_run_status: dict[str, Any],
    run_context: dict[str, Any],
    dbt_target: dict[str, Any] | str | None,
    dbt_params: DbtParams | None,
) -> dict[str, Any]:
    """Run the data tests; raise ``DbtTestFailedError`` naming every failing test so downstream stops."""
    params = DbtParams.of(dbt_params, "dbt")
    if not (dbt_run_status or {}).get("success", False):
        raise DbtRunFailedError("dbt run did not succeed; not testing its output")
    if dbt_run_status.get("dry_run") or run_context.get("dry_run"):
        logger.info("Dry run: dbt test skipped")
        return {
            "run_id": run_context.get("run_id"),
            "command": "test",
            "success": True,
            "skipped": True,
            "tests": 0,
            "failures": 0,
            "warnings": 0,
            "elapsed_s": 0.0,
            "error": None,
            "results": [],
        }

    url = db.resolve_url(dbt_target)
    command = ["test", *_common_args(params)]
    # an incremental run tests the fact rows it built; a full run (rebuilt everything) tests every row
    scope = (
        {}
        if dbt_run_status.get("full_refresh")
        else {"SELLOUT_DBT_TESTS_RUN_ID": str(run_context.get("run_id"))}
    )
    result = run_dbt(command, url, vars=_vars(params), env=scope)
    status = _status(result, run_context, "tests", skipped=False)
    if not result.success:
        failing = result.failed
        raise DbtTestFailedError(
            f"dbt test failed for run {status['run_id']}: "
            f"{len(failing)} of {len(result.results)} test(s) failed; "
            f"fix the data or the models before the marts are used:\n{result.describe_failures()}"
        )
    return status
