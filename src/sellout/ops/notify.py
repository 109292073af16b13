"""Run notifications: a JSON event POSTed to a webhook (n8n, Slack-compatible relays, ...).

A notifier that is down must never fail a run: :func:`send_webhook` retries with backoff, logs the
failure and returns ``False``. Webhook URLs often carry a secret in their path or query, so only
``scheme://host[:port]`` is ever logged, and exception texts (which contain the full URL) are not.

Note: ``urllib3`` logs request paths at DEBUG level; keep the ``urllib3`` logger at INFO or above in
production (Kedro's default logging does) or the webhook path shows up in the logs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

logger = logging.getLogger(__name__)

EVENT_KINDS = (
    "run_succeeded",
    "run_failed",
    "data_late",
    "dbt_test_failed",
    "quality_gate_blocked",
    "refresh_confirmed",
    "refresh_failed",
    "refresh_skipped",
    "forecast_late",
)
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
# Credential keys whose values are secrets wherever they appear (besides passwords inside URLs).
_SECRET_KEY_PARTS = ("secret", "password", "passwd", "token", "jwt", "key", "webhook")
MIN_SECRET_CHARS = 6
ERROR_LINES = 5
ERROR_CHARS = 1000
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


def send_webhook(
    url: str,
    event: dict[str, Any],
    *,
    timeout_s: float = 10,
    attempts: int = 3,
    backoff_s: float = 1.0,
) -> bool:
    """POST ``event`` as JSON; retry connection errors, timeouts, 429 and 5xx with exponential backoff.

    Returns ``True`` on a 2xx answer, ``False`` otherwise (logged at WARNING). Never raises.
    """
    target = safe_url(url)
    kind = event.get("event", "event") if isinstance(event, dict) else "event"
    attempts = max(1, int(attempts))
    try:
        body = json.dumps(event, default=str).encode("utf-8")
    except (TypeError, ValueError) as exc:
        logger.warning("Notification %s NOT sent to webhook %s: event is not JSON (%s)", kind, target, exc)
        return False
    headers = {"Content-Type": "application/json", "User-Agent": "sellout-notifier"}
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(url, data=body, timeout=timeout_s, headers=headers)
        except Exception as exc:  # noqa: BLE001 - a notifier must never fail the run
            problem, retry = f"{type(exc).__name__}", True
        else:
            if 200 <= response.status_code < 300:
                logger.info(
                    "Notification %s sent to webhook %s (HTTP %s)", kind, target, response.status_code
                )
                return True
            problem, retry = f"HTTP {response.status_code}", response.status_code in RETRY_STATUS
        if not retry or attempt == attempts:
            logger.warning(
                "Notification %s NOT sent to webhook %s after %d attempt(s): %s",
                kind,
                target,
                attempt,
                problem,
            )
            return False
        delay = backoff_s * 2 ** (attempt - 1)
        logger.info(
            "Webhook %s attempt %d/%d failed (%s); retrying in %.1fs",
            target,
            attempt,
            attempts,
            problem,
            delay,
        )
        time.sleep(delay)
    return False  # pragma: no cover - the loop always returns


def build_run_event(
    kind: str, run_context: dict[str, Any] | None, summary: dict[str, Any] | None
) -> dict[str, Any]:
    """A JSON-ready event.

    ``summary`` keys used when present: ``status`` (else derived from ``kind``), ``pipeline``,
    ``duration_s`` (else computed from ``run_context["started_at"]``), ``rows_in``, ``rows_out``,
    ``error`` (str or exception: only its first lines are sent), ``tableau`` (the refresh status
    record) and ``details`` (anything else, JSON-able).
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
    if summary.get("tableau") is not None:
        event["tableau"] = summary["tableau"]
    if summary.get("details") is not None:
        event["details"] = summary["details"]
    return event


def first_lines(error: Any, lines: int = ERROR_LINES, chars: int = ERROR_CHARS) -> str:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()][:lines]
    return "\n".join(kept)[:chars]


def safe_url(url: str | None) -> str:
    """``scheme://host[:port]`` of a URL: what may be logged of a webhook address."""
    try:
        parts = urlsplit(str(url or ""))
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme or '?'}://{parts.hostname or '?'}{port}"
    except ValueError:
        return "<invalid url>"


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


class SecretRedactor:
    """Replaces known secret values with ``***`` in text and in nested JSON-like values.

    Built from the credentials config (and channel settings): every value under a key that names a secret
    (``*secret*``, ``*password*``, ``*token*``, ``*key*``, ``jwt``, ``*webhook*``), the password of every URL, and
    the path and query of webhook URLs (Slack and n8n put their token there).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)

    @classmethod
    def from_config(cls, *configs: Mapping[str, Any] | None) -> SecretRedactor:
        found: set[str] = set()
        for config in configs:
            _collect_secrets(config, "", found)
        return cls(found)

    def __call__(self, text: Any) -> Any:
        return self.redact(text)

    def redact(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, Mapping):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact(v) for v in value]
        return value


def _collect_secrets(value: Any, key: str, found: set[str]) -> None:
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            _collect_secrets(child, str(child_key).lower(), found)
        return
    if isinstance(value, list | tuple):
        for child in value:
            _collect_secrets(child, key, found)
        return
    if not isinstance(value, str) or not value.strip():
        return
    text = value.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError:
            parts = None
        if parts is not None:
            if parts.password:
                found.update({parts.password, unquote(parts.password)})
            is_http = parts.scheme in ("http", "https") and parts.hostname
            if (
                is_http
                and any(part in key for part in ("hook", "url"))
                and (len(parts.path) > 1 or parts.query)
            ):
                tail = parts.path + (f"?{parts.query}" if parts.query else "")
                found.update({text, tail})
            return
    if any(part in key for part in _SECRET_KEY_PARTS):
        found.add(text)
