"""Publish nodes: ask for the Tableau extract refresh, say how it went, announce the end of the run.

The refresh itself happens in the ``tableau_refresh_status`` dataset (it talks to Tableau and records every item in
``ops.tableau_refreshes``); alerts are sent by the alert datasets. These functions only decide.

- **Quality gate.** ``quality_gate_status["passed"] is False``: the request says ``publish: false``, Tableau is not
  refreshed (it keeps showing the last published forecasts), the outcome is ``blocked`` and a
  ``quality_gate_blocked`` alert goes out. The forecasts are in the database for whoever wants to inspect them.
- **Outcomes.** ``succeeded`` sends ``refresh_confirmed``; ``skipped`` (no server configured) sends nothing;
  ``failed`` (any item failed, was cancelled or timed out, or sign-in / connection failed) fails the refresh itself
  (the dataset raises ``TableauRefreshFailed`` once the outcome is recorded) and the observability hooks send
  ``refresh_failed`` with the record.
"""

from __future__ import annotations

import logging
from typing import Any

from sellout.integrations.alert_events import alert_request

logger = logging.getLogger(__name__)


def refresh_tableau(
    forecast_write_status: dict[str, Any],
    quality_gate_status: dict[str, Any] | None,
    run_context: dict[str, Any],
) -> dict[str, Any]:
    """The refresh request for the forecasts just written: publish them unless the quality gate blocked them."""
    forecast_write_status = forecast_write_status or {}
    gate = _gate_summary(quality_gate_status, run_context["run_id"])
    blocked = gate is not None and not gate["passed"]
    return {
        "run_id": run_context["run_id"],
        "publish": not blocked,
        "reason": (
            f"quality gate blocked the publication: {gate.get('reason') or 'no reason given'}"
            if blocked
            else None
        ),
        "forecast_rows": forecast_write_status.get("rows"),
        "forecast_table": forecast_write_status.get("table"),
        "quality_gate": gate,
    }


def alert_on_refresh(
    tableau_refresh_status: dict[str, Any], run_context: dict[str, Any]
) -> list[dict[str, Any]]:
    """The alerts that the refresh's outcome calls for."""
    status = tableau_refresh_status
    if status["status"] == "blocked":
        summary = {"pipeline": "publish", "reason": status["reason"], "details": status.get("quality_gate")}
        return [alert_request("quality_gate_blocked", run_context, summary)]
    if status["status"] == "succeeded":
        logger.info(
            "Tableau refresh confirmed for %d item(s): %s",
            len(status["items"]),
            ", ".join(f"{i['item_name']} (job {i['job_id']})" for i in status["items"]),
        )
        summary = {"pipeline": "publish", "rows_out": status.get("forecast_rows"), "tableau": status}
        return [alert_request("refresh_confirmed", run_context, summary)]
    return []


def notify_run_end(
    tableau_refresh_status: dict[str, Any], publish_alerts: dict[str, Any], run_context: dict[str, Any]
) -> dict[str, Any]:
    """``run_succeeded`` with the refresh record, once the refresh's own alerts went out."""
    del publish_alerts  # an input only so that the refresh's alerts are sent first
    status = tableau_refresh_status or {}
    return alert_request(
        "run_succeeded", run_context, {"rows_out": status.get("forecast_rows"), "tableau": status}
    )


def _gate_summary(gate: dict[str, Any] | None, run_id: str) -> dict[str, Any] | None:
    if gate is None:
        return None
    if not isinstance(gate, dict) or not isinstance(gate.get("passed"), bool):
        raise ValueError(
            "quality_gate_status must be a mapping with a boolean 'passed' "
            f"(got {type(gate).__name__}{'' if not isinstance(gate, dict) else ' with keys ' + ', '.join(gate)})"
        )
    if gate.get("run_id") not in (None, run_id):
        logger.warning("quality_gate_status is from run %s, not this run %s", gate.get("run_id"), run_id)
    keys = ("run_id", "passed", "reason", "model_wape", "best_baseline", "best_baseline_wape", "margin")
    return {k: gate.get(k) for k in keys if k in gate}
