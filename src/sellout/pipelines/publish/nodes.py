"""Publish nodes: Tableau extract refresh and the end-of-run notification.

Failure policy: when any Tableau item does not end ``succeeded`` (failed, cancelled, timeout),
``refresh_tableau`` logs the full record and raises :class:`TableauRefreshFailed` (a ``RuntimeError``
carrying the record in ``.record``). The run then fails, so ``notify_run_end`` does not run: the
failure must be notified by the run's error hook (``build_run_event("run_failed", ...)`` +
``send_webhook``), which can read ``exc.record``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sellout.notify import build_run_event, safe_url, send_webhook
from sellout.tableau import TableauSettings, refresh_items

logger = logging.getLogger(__name__)

SKIP_REASON = (
    "no Tableau server configured (set TABLEAU_SERVER_URL, TABLEAU_SITE and "
    "TABLEAU_TOKEN_NAME/TABLEAU_TOKEN_SECRET or TABLEAU_JWT to enable the extract refresh)"
)


class TableauRefreshFailed(RuntimeError):
    """At least one Tableau extract refresh did not succeed; ``record`` is the ``tableau_refresh_status``."""

    def __init__(self, message: str, record: dict[str, Any]):
        super().__init__(message)
        self.record = record


def refresh_tableau(
    forecast_write_status: dict[str, Any],
    run_context: dict[str, Any],
    tableau_settings: dict[str, Any] | None,
) -> dict[str, Any]:
    """Refresh the configured Tableau extracts after the forecasts were written.

    Returns ``{"run_id", "status": "skipped"|"dry_run"|"succeeded", "reason", "items",
    "forecast_rows", "forecast_table", "tableau_server", "site"}``; raises
    :class:`TableauRefreshFailed` when an item did not succeed.
    """
    forecast_write_status = forecast_write_status or {}
    record: dict[str, Any] = {
        "run_id": run_context["run_id"],
        "status": None,
        "reason": None,
        "items": [],
        "forecast_rows": forecast_write_status.get("rows"),
        "forecast_table": forecast_write_status.get("table"),
    }
    settings = TableauSettings.from_config(tableau_settings)
    if settings is None:
        logger.warning("Tableau refresh SKIPPED: %s", SKIP_REASON)
        return {**record, "status": "skipped", "reason": SKIP_REASON}
    record["tableau_server"] = safe_url(settings.server_url)
    record["site"] = settings.site
    if not settings.items:
        reason = "Tableau server configured but no items to refresh (tableau items list is empty)"
        logger.warning("Tableau refresh SKIPPED: %s", reason)
        return {**record, "status": "skipped", "reason": reason}
    if run_context.get("dry_run"):
        names = ", ".join(f"{i['type']} {i.get('name') or i.get('id')!r}" for i in settings.items)
        reason = f"dry run: would refresh {names} on {record['tableau_server']}"
        logger.info("Tableau refresh not run: %s", reason)
        return {**record, "status": "dry_run", "reason": reason}

    record["items"] = refresh_items(settings, list(settings.items))
    bad = [i for i in record["items"] if i["status"] != "succeeded"]
    record["status"] = "failed" if bad else "succeeded"
    if bad:
        record["reason"] = "; ".join(
            f"{i['item_type']} {i['item_name'] or i['item_id']!r}: {i['status']} ({i['error']})" for i in bad
        )
        logger.error("Tableau refresh FAILED: %s", json.dumps(record, default=str))
        raise TableauRefreshFailed(
            f"Tableau refresh failed for {len(bad)} of {len(record['items'])} item(s): {record['reason']}",
            record,
        )
    logger.info(
        "Tableau refresh confirmed for %d item(s): %s",
        len(record["items"]),
        ", ".join(f"{i['item_name']} (job {i['job_id']})" for i in record["items"]),
    )
    return record


def notify_run_end(
    tableau_refresh_status: dict[str, Any],
    run_context: dict[str, Any],
    notify_settings: dict[str, Any] | None,
) -> dict[str, Any]:
    """Send a ``run_succeeded`` event with the refresh record to the configured webhook.

    ``notify_settings``: ``{"webhook_url": str|None, "timeout_s": 10, "attempts": 3}``. No webhook:
    INFO log, nothing sent. Dry runs are not notified. A webhook that is down is logged and never
    fails the run.
    """
    notify_settings = notify_settings or {}
    run_id = run_context["run_id"]
    url = str(notify_settings.get("webhook_url") or "").strip()
    if not url:
        logger.info("Run-end notification skipped: no webhook configured (set NOTIFY_WEBHOOK_URL)")
        return {"run_id": run_id, "sent": False, "channel": None}
    if run_context.get("dry_run"):
        logger.info("Run-end notification skipped: dry run")
        return {"run_id": run_id, "sent": False, "channel": None}
    status = tableau_refresh_status or {}
    event = build_run_event(
        "run_succeeded",
        run_context,
        {"rows_out": status.get("forecast_rows"), "tableau": status},
    )
    sent = send_webhook(
        url,
        event,
        timeout_s=float(notify_settings.get("timeout_s") or 10),
        attempts=int(notify_settings.get("attempts") or 3),
    )
    return {"run_id": run_id, "sent": sent, "channel": "webhook"}
