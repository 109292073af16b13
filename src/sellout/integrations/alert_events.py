"""The run event every alert channel gets: a JSON-ready record, and the message people read in Slack and e-mail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ERROR_LINES = 5
ERROR_CHARS = 1000
_STATUS_BY_KIND = {
    "run_succeeded": "succeeded",
    "run_failed": "failed",
    "dbt_test_failed": "failed",
    "quality_gate_blocked": "blocked",
    "refresh_confirmed": "succeeded",
    "refresh_failed": "failed",
    "refresh_skipped": "skipped",
    "data_late": "late",
    "forecast_late": "late",
}
# Summary keys copied into the event as they are.
_PASSED_THROUGH = ("failed_node", "nodes", "consecutive_failures", "reason", "tableau", "details")


def alert_request(
    kind: str, run_context: dict[str, Any], summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a node hands to an alert dataset: the event kind, the run and what to say about it."""
    return {"kind": kind, "run_context": dict(run_context), "summary": dict(summary or {})}


def build_run_event(
    kind: str, run_context: dict[str, Any] | None, summary: dict[str, Any] | None
) -> dict[str, Any]:
    """A JSON-ready event.

    ``summary`` keys used when present: ``status`` (else derived from ``kind``), ``pipeline``, ``duration_s``
    (else computed from ``run_context["started_at"]``), ``rows_in``, ``rows_out``, ``error`` (str or exception:
    only its first lines are sent), and ``failed_node``, ``nodes``, ``consecutive_failures``, ``reason``,
    ``tableau`` (the refresh status record) and ``details`` as they are.
    """
    run_context = dict(run_context or {})
    summary = dict(summary or {})
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "event": kind,
        "run_id": run_context.get("run_id"),
        "pipeline": summary.get("pipeline") or run_context.get("pipeline") or "__default__",
        "status": summary.get("status") or _STATUS_BY_KIND.get(kind, "unknown"),
        "env": run_context.get("env"),
        "mode": run_context.get("mode"),
        "dry_run": bool(run_context.get("dry_run", False)),
        "started_at": run_context.get("started_at"),
        "ended_at": now.isoformat(timespec="seconds"),
        "duration_s": summary.get("duration_s", _duration_s(run_context.get("started_at"), now)),
    }
    for key in ("rows_in", "rows_out"):
        if summary.get(key) is not None:
            event[key] = int(summary[key])
    if summary.get("error") is not None:
        event["error"] = first_lines(summary["error"])
    for key in _PASSED_THROUGH:
        if summary.get(key) is not None:
            event[key] = summary[key]
    return event


def first_lines(error: Any, lines: int = ERROR_LINES, chars: int = ERROR_CHARS) -> str:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()][:lines]
    return "\n".join(kept)[:chars]


def subject(event: dict[str, Any]) -> str:
    dry = " (dry run)" if event.get("dry_run") else ""
    return f"[sellout][{event['severity'].upper()}] {event['event']}{dry}: run {event.get('run_id')}"


def format_message(event: dict[str, Any]) -> str:
    """The human message: run id, what ran, how long, rows in and out, what failed, where to look."""
    lines = [subject(event)]
    what = f"pipeline {event.get('pipeline')}"
    extras = [f"{k} {event[k]}" for k in ("env", "mode") if event.get(k)]
    if event.get("dry_run"):
        extras.append("dry run: nothing was written")
    if extras:
        what += f" ({', '.join(extras)})"
    if event.get("nodes"):
        what += f", nodes: {', '.join(map(str, event['nodes']))}"
    lines.append(f"What ran: {what}")
    if event.get("duration_s") is not None:
        lines.append(f"Duration: {float(event['duration_s']):.1f} s")
    if event.get("rows_in") is not None or event.get("rows_out") is not None:
        lines.append(f"Rows: {_n(event.get('rows_in'))} in, {_n(event.get('rows_out'))} out")
    tableau = event.get("tableau") or {}
    if tableau.get("status"):
        items = ", ".join(
            f"{i.get('item_name') or i.get('item_id')} {i.get('status')} (job {i.get('job_id')})"
            for i in tableau.get("items") or []
        )
        lines.append(f"Tableau: {tableau['status']}" + (f": {items}" if items else ""))
    if event.get("reason"):
        lines.append(f"Reason: {event['reason']}")
    if event.get("consecutive_failures"):
        lines.append(f"Consecutive failed runs: {event['consecutive_failures']}")
    if event.get("error"):
        where = f" in node {event['failed_node']}" if event.get("failed_node") else ""
        lines.append(f"Failed{where}:")
        lines.extend(f"    {line}" for line in str(event["error"]).splitlines())
    lines.append(f"Where to look: {event.get('where_to_look')}")
    return "\n".join(lines)


def _duration_s(started_at: Any, now: datetime) -> float | None:
    if not started_at:
        return None
    try:
        start = started_at if isinstance(started_at, datetime) else datetime.fromisoformat(str(started_at))
    except ValueError:
        return None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return round((now - start).total_seconds(), 3)


def _n(value: Any) -> str:
    return f"{int(value):,}" if value is not None else "?"
