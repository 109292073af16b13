"""Alerts from outside a Kedro session (Airflow callbacks, the deadline alert, other tools).

Inside a run, nodes emit alert requests to the ``*_alerts`` catalog datasets and the observability hooks send
``run_failed``; all of them go through the same :class:`~sellout.integrations.alerting.AlertRouter`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sellout.config.project import ProjectConfig
from sellout.integrations.alerting import AlertRouter

logger = logging.getLogger(__name__)


def load_router(*, env: str | None = None, project_path: str | Path | None = None) -> AlertRouter:
    """The router of ``conf/base`` + ``conf/<env>`` (``notifications.yml`` and the credentials it names)."""
    project = ProjectConfig(env, project_path)
    return AlertRouter(project.notifications, project.redactor)


def send_alert(
    kind: str,
    *,
    run_id: str,
    summary: dict[str, Any] | None,
    env: str | None = None,
    project_path: str | Path | None = None,
) -> dict[str, bool]:
    """Route one event by its severity with the project's config; ``{channel: delivered}``. Never raises."""
    try:
        router = load_router(env=env, project_path=project_path)
    except Exception as exc:  # noqa: BLE001 - a broken config is logged; the caller's outcome stays
        logger.warning(
            "Alert %s for run %s not sent: alert config could not be loaded: %s", kind, run_id, exc
        )
        return {}
    summary = dict(summary or {})
    return router.send(kind, run_id=run_id, summary=summary, run_context={"env": env or summary.get("env")})
