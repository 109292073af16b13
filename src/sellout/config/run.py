"""The identity of one run: the ``run_context`` that every node writing run records receives.

A run has one ``run_id`` from the first task to the Tableau confirmation: the ``run_id`` runtime parameter
(Airflow passes its own, so every task of a DAG run shares it), else Kedro's session id
(:class:`sellout.config.loader.RunIdSessionStore`). ``backfill`` is ``{"from": "2026-W05", "to": "2026-W08"}``
when the run reloads those weeks (:mod:`sellout.config.backfill`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sellout.config.backfill import backfill_range
from sellout.config.schema import ConfigError

RUN_MODES = ("incremental", "full")
# What a file name on an SMB share keeps as it is (an Airflow run id has ':' and '+').
UNSAFE_IN_FILE_NAMES = re.compile(r"[^0-9A-Za-z._-]+")


def run_file_name(run_id: str) -> str:
    """The run id as a file name (a run's report): ':', '+', '/' ... as '-'."""
    return UNSAFE_IN_FILE_NAMES.sub("-", str(run_id)).strip("-.") or "run"


def build_run_context(run_id: str, runtime_params: Mapping[str, Any], env: str | None) -> dict[str, Any]:
    """The run context of ``run_id`` from the runtime parameters (mode, dry_run, backfill_from/_to)."""
    mode = str(runtime_params.get("mode") or "incremental")
    if mode not in RUN_MODES:
        raise ConfigError(f"runtime parameter 'mode' is {mode!r}; use one of {', '.join(RUN_MODES)}")
    try:
        backfill = backfill_range(runtime_params)
    except ValueError as exc:
        raise ConfigError(f"runtime parameter {exc}") from None
    return {
        "run_id": str(runtime_params.get("run_id") or run_id),
        "mode": mode,
        "dry_run": as_bool(runtime_params.get("dry_run", False)),
        "env": env or "local",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "backfill": {"from": backfill[0], "to": backfill[1]} if backfill else None,
    }


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)
