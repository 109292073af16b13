"""Publish nodes: the quality-gated Tableau extract refresh, then the end-of-run notification.

Policies:

- **Quality gate.** ``quality_gate_status["passed"] is False``: Tableau is not refreshed (it keeps showing the
  last published forecasts), the record says ``blocked`` with the gate's reason, and a ``quality_gate_blocked``
  alert goes out. The run itself succeeds: the forecasts are in the database for whoever wants to inspect them.
- **Confirmation.** Each item's refresh is recorded in ``ops.tableau_refreshes`` (job id as soon as the job
  exists, then start, end and finish code). A retried task reads those rows first: a confirmed item is not
  refreshed again, a started job is followed instead of starting another.
- **Failure.** When any item does not end ``succeeded`` (failed, cancelled, timeout) the node sends a
  ``refresh_failed`` alert and raises :class:`TableauRefreshFailed` (carrying the record in ``.record``), so the
  run fails; the observability hooks then record it and send ``run_failed``.
- **Via.** ``tableau_settings.via``: ``tableauserverclient`` (default) calls Tableau from here; ``n8n`` asks
  n8n's refresh workflow (``airflow/n8n/workflows``), which holds the Tableau credentials, and gets the same
  confirmation back.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sellout.integrations import db
from sellout.integrations.tableau import TableauSettings, item_key, refresh_items, refresh_items_via_n8n
from sellout.ops import run_records
from sellout.ops.alerts import AlertRouter
from sellout.ops.notify import safe_url

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
    quality_gate_status: dict[str, Any] | None,
    run_context: dict[str, Any],
    tableau_settings: dict[str, Any] | None,
    alert_routes: Any = None,
    ops_db: dict[str, Any] | str | None = None,
) -> dict[str, Any]:
    """Refresh the configured Tableau extracts after the forecasts were written and the gate passed.

    Returns ``{"run_id", "status": "skipped"|"dry_run"|"blocked"|"succeeded", "reason", "items",
    "forecast_rows", "forecast_table", "quality_gate", "via", "tableau_server", "site"}``; raises
    :class:`TableauRefreshFailed` when an item did not succeed. ``ops_db``: where ``ops.tableau_refreshes``
    lives (``None``: no records, e.g. in unit tests).
    """
    forecast_write_status = forecast_write_status or {}
    router = AlertRouter.from_routes(alert_routes)
    run_id = run_context["run_id"]
    record: dict[str, Any] = {
        "run_id": run_id,
        "status": None,
        "reason": None,
        "items": [],
        "forecast_rows": forecast_write_status.get("rows"),
        "forecast_table": forecast_write_status.get("table"),
        "quality_gate": _gate_summary(quality_gate_status, run_id),
    }
    if quality_gate_status is not None and not quality_gate_status["passed"]:
        reason = (
            f"quality gate blocked the publication: {quality_gate_status.get('reason') or 'no reason given'}"
        )
        logger.warning("Tableau refresh BLOCKED: %s", reason)
        record = {**record, "status": "blocked", "reason": reason}
        if not run_context.get("dry_run"):
            router.send(
                "quality_gate_blocked",
                run_id=run_id,
                summary={"pipeline": "publish", "reason": reason, "details": record["quality_gate"]},
                run_context=run_context,
            )
        return record

    settings = TableauSettings.from_config(tableau_settings)
    if settings is None:
        logger.warning("Tableau refresh SKIPPED: %s", SKIP_REASON)
        return {**record, "status": "skipped", "reason": SKIP_REASON}
    record["via"] = settings.via
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

    store = _RefreshStore(ops_db, run_id, settings.via)
    known = store.load()
    if settings.via == "n8n":
        record["items"] = refresh_items_via_n8n(settings, list(settings.items), run_id=run_id, known=known)
    else:
        record["items"] = refresh_items(settings, list(settings.items), known=known, on_started=store.save)
    for item, confirmation in zip(settings.items, record["items"], strict=True):
        store.save(item, confirmation)

    bad = [i for i in record["items"] if i["status"] != "succeeded"]
    record["status"] = "failed" if bad else "succeeded"
    if bad:
        record["reason"] = "; ".join(
            f"{i['item_type']} {i['item_name'] or i['item_id']!r}: {i['status']} ({i['error']})" for i in bad
        )
        logger.error("Tableau refresh FAILED: %s", json.dumps(record, default=str))
        message = (
            f"Tableau refresh failed for {len(bad)} of {len(record['items'])} item(s): {record['reason']}"
        )
        router.send(
            "refresh_failed",
            run_id=run_id,
            summary={
                "pipeline": "publish",
                "error": message,
                "failed_node": "refresh_tableau",
                "tableau": record,
            },
            run_context=run_context,
        )
        raise TableauRefreshFailed(message, record)
    logger.info(
        "Tableau refresh confirmed for %d item(s): %s",
        len(record["items"]),
        ", ".join(f"{i['item_name']} (job {i['job_id']})" for i in record["items"]),
    )
    router.send(
        "refresh_confirmed",
        run_id=run_id,
        summary={"pipeline": "publish", "rows_out": record["forecast_rows"], "tableau": record},
        run_context=run_context,
    )
    return record


def notify_run_end(
    tableau_refresh_status: dict[str, Any],
    run_context: dict[str, Any],
    alert_routes: Any = None,
) -> dict[str, Any]:
    """Send ``run_succeeded`` (with the refresh record) to the channels its severity routes to.

    Dry runs are not notified. A channel that is down is logged and never fails the run; the result says
    which channels got it: ``{"run_id", "sent": bool, "channels": {name: delivered}}``.
    """
    run_id = run_context["run_id"]
    if run_context.get("dry_run"):
        logger.info("Run-end notification skipped: dry run")
        return {"run_id": run_id, "sent": False, "channels": {}}
    router = AlertRouter.from_routes(alert_routes)
    status = tableau_refresh_status or {}
    delivered = router.send(
        "run_succeeded",
        run_id=run_id,
        summary={"rows_out": status.get("forecast_rows"), "tableau": status},
        run_context=run_context,
    )
    if not delivered:
        logger.info("Run-end notification: no configured channel for run_succeeded")
    return {"run_id": run_id, "sent": any(delivered.values()), "channels": delivered}


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


class _RefreshStore:
    """``ops.tableau_refreshes`` for one run; without a database it does nothing. Write failures are logged:
    the refresh itself matters more than its record (the record is repeated at the end)."""

    def __init__(self, ops_db: dict[str, Any] | str | None, run_id: str, via: str) -> None:
        self.url = db.resolve_url(ops_db) if ops_db else None
        self.run_id, self.via = run_id, via

    def load(self) -> dict[str, dict[str, Any]]:
        if not self.url:
            return {}
        try:
            with db.connect(self.url) as conn:
                return run_records.load_refreshes(conn, self.run_id)
        except Exception as exc:  # noqa: BLE001 - Tableau's 409093 still prevents a second refresh
            logger.warning("Earlier refresh records not read: %s", db.redact(type(exc).__name__, self.url))
            return {}

    def save(self, item: dict[str, Any], record: dict[str, Any]) -> None:
        if not self.url:
            return
        try:
            with db.transaction(self.url) as conn:
                run_records.ensure_tables(conn)
                run_records.save_refresh(conn, self.run_id, item_key(item), record, self.via)
        except Exception as exc:  # noqa: BLE001 - logged; the final save repeats it
            logger.warning(
                "Refresh record for %s not written: %s",
                item_key(item),
                db.redact(type(exc).__name__, self.url),
            )
