"""The identity of one run: the ``run_context`` input that every node which writes run records receives.

A run has one ``run_id`` from the first task to the Tableau confirmation. ``kedro run`` uses Kedro's session id;
Airflow passes its own run id as the ``run_id`` runtime parameter so that every task of a DAG run shares it.
``backfill`` is ``{"from": "2026-W05", "to": "2026-W08"}`` when the run reloads those weeks (``sellout.config.backfill``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sellout.config.backfill import backfill_range

RUN_MODES = ("incremental", "full")


def build_run_context(session_id: str, runtime_params: dict[str, Any], env: str | None) -> dict[str, Any]:
    mode = str(runtime_params.get("mode") or "incremental")
    if mode not in RUN_MODES:
        raise ValueError(f"Runtime parameter 'mode' is {mode!r}; use one of {', '.join(RUN_MODES)}")
    backfill = backfill_range(runtime_params)
    return {
        "run_id": str(runtime_params.get("run_id") or session_id),
        "mode": mode,
        "dry_run": _as_bool(runtime_params.get("dry_run", False)),
        "env": env or "local",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "backfill": {"from": backfill[0], "to": backfill[1]} if backfill else None,
    }


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)
