"""The few lines ``sellout run`` prints for a person: what ran, rows in and out, forecasts, refresh, report, records.

Built from the run's status records (``RunSummary.outputs``); the full record is ``sellout run --json``.
"""

from __future__ import annotations

from typing import Any


def describe(summary: dict[str, Any]) -> str:
    outputs = summary.get("outputs") or {}
    what = f"(pipeline {summary['pipeline']}, mode {summary['mode']}, env {summary['env']})"
    if summary["status"] == "noop":
        return f"Run {summary['run_id']} {what}: {summary.get('note')}"
    if summary["status"] == "failed" and not outputs:
        head = f"Run {summary['run_id']} did not start {what}"
    else:
        head = f"Run {summary['run_id']} {summary['status']} in {summary['duration_s']:.1f} s {what}"
    lines = [head]
    if "dry_run_plan" in outputs:
        plan = outputs["dry_run_plan"]
        failed = [c for c in plan.get("checks", []) if c["status"] == "failed"]
        lines.append(
            f"  dry run: {len(plan.get('nodes', []))} node(s) planned, nothing written; "
            f"{'checks OK' if not failed else f'{len(failed)} check(s) failed'}"
        )
    for name, render in _STAGES:
        if name in outputs:
            lines.append(f"  {render(outputs[name])}")
    if outputs.get("report"):
        lines.append(f"  report: {outputs['report']}")
    if summary.get("error"):
        lines.extend(f"  {line}" for line in str(summary["error"]).splitlines())
    if outputs:
        lines.append(f"  records: sellout status --run-id {summary['run_id']}")
    return "\n".join(lines)


def _ingestion(s: dict[str, Any]) -> str:
    return (
        f"ingestion: {s.get('files_loaded', 0)} file(s) loaded, {_n(s.get('rows_loaded'))} rows in, "
        f"{_n(s.get('rows_rejected'))} rejected, {s.get('files_quarantined', 0)} quarantined, "
        f"{s.get('files_duplicate', 0)} duplicate(s); latest week {s.get('latest_week') or '-'}"
    )


def _dbt(kind: str, count_key: str):
    def render(s: dict[str, Any]) -> str:
        if s.get("skipped"):
            return f"dbt {kind}: skipped"
        return f"dbt {kind}: {s.get(count_key, 0)} {count_key}, {s.get('failures', 0)} failed, {s.get('elapsed_s', 0):.1f} s"

    return render


def _forecasts(s: dict[str, Any]) -> str:
    return (
        f"forecasts: {_n(s.get('rows'))} rows for {_n(s.get('series'))} series written to {s.get('table')} "
        f"(origin {s.get('origin_week')}, model {s.get('model_version')})"
    )


def _gate(s: dict[str, Any]) -> str:
    return f"quality gate: {'passed' if s.get('passed') else 'BLOCKED'}: {s.get('reason')}"


def _tableau(s: dict[str, Any]) -> str:
    items = ", ".join(
        f"{i.get('item_name') or i.get('item_id')} {i.get('status')}" for i in s.get("items") or []
    )
    detail = items or s.get("reason") or ""
    return f"tableau refresh: {s.get('status')}" + (f" ({detail})" if detail else "")


def _notification(s: dict[str, Any]) -> str:
    sent = [
        f"{a['kind']} -> {', '.join(n for n, ok in a['channels'].items() if ok) or 'nobody'}"
        for a in s.get("alerts", [])
    ]
    return f"notified: {'; '.join(sent) or 'nothing to send'}"


def _n(value: Any) -> str:
    return f"{int(value):,}" if value is not None else "-"


_STAGES = (
    ("ingestion_status", _ingestion),
    ("dbt_run_status", _dbt("run", "models")),
    ("dbt_test_status", _dbt("test", "tests")),
    ("forecast_write_status", _forecasts),
    ("quality_gate_status", _gate),
    ("tableau_refresh_status", _tableau),
    ("notification_status", _notification),
)
