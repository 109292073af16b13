"""Alerts: each event goes to the channels that its severity routes to (``conf/<env>/notifications.yml``).

Channels are a Slack incoming webhook (``slack``), email over SMTP (``email``) and a JSON webhook such as n8n
(``webhook``). A channel whose address is empty is "not configured" and is skipped with an INFO line, so a
laptop without secrets runs quietly.

Nothing here raises to the caller: a notifier that is down is retried with backoff, logged (host only, never a
URL path, token or password) and reported as not delivered. An alert can never change a run's outcome.

Entry points: :class:`AlertRouter` (built once per run by the observability hooks, handed to the publish nodes
as ``alert_routes``) and :func:`send_alert` (for Airflow callbacks and other tools: it loads the project's
config itself).
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sellout.ops.notify import SecretRedactor, build_run_event, first_lines, safe_url, send_webhook

logger = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "error", "critical")
DEFAULT_SEVERITY = {
    "run_succeeded": "info",
    "refresh_confirmed": "info",
    "refresh_skipped": "info",
    "data_late": "warning",
    "quality_gate_blocked": "warning",
    "run_failed": "error",
    "dbt_test_failed": "error",
    "refresh_failed": "error",
    "forecast_late": "critical",
}
CHANNEL_TYPES = ("slack", "email", "webhook")
CONFIG_FILE = "conf/<env>/notifications.yml"
DEFAULT_WHERE = "sellout status --run-id {run_id}  (tables ops.pipeline_runs, ops.node_runs, ops.dbt_results)"


class AlertConfigError(ValueError):
    """notifications.yml is wrong; the message names the key."""


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    settings: dict[str, Any] = field(repr=False)

    @property
    def address(self) -> str:
        """Where it sends to, safe to log."""
        if self.type == "email":
            return f"smtp://{self.settings.get('smtp_host')}:{self.settings.get('smtp_port')}"
        return safe_url(self.settings.get("url"))

    @property
    def configured(self) -> bool:
        if self.type == "email":
            return bool(_text(self.settings.get("smtp_host")) and _recipients(self.settings.get("to")))
        return bool(_text(self.settings.get("url")))


@dataclass
class AlertRouter:
    channels: dict[str, Channel] = field(default_factory=dict)
    routes: dict[str, list[str]] = field(default_factory=dict)
    severities: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    attempts: int = 3
    backoff_s: float = 1.0
    timeout_s: float = 10.0
    where_to_look: str = DEFAULT_WHERE
    redactor: SecretRedactor = field(default_factory=SecretRedactor, repr=False)

    # ------------------------------------------------------------------------------------------ config
    @classmethod
    def from_config(
        cls, notifications: dict[str, Any] | None, credentials: dict[str, Any] | None = None
    ) -> AlertRouter:
        """Validate ``notifications.yml``'s ``alerts`` section; a channel may take secrets from
        ``credentials: <key of credentials.yml>``."""
        config = dict((notifications or {}).get("alerts") or {})
        credentials = dict(credentials or {})
        channels: dict[str, Channel] = {}
        for name, raw in (config.get("channels") or {}).items():
            if not isinstance(raw, dict):
                raise AlertConfigError(f"{CONFIG_FILE}: alerts.channels.{name} must be a mapping")
            kind = str(raw.get("type") or "")
            if kind not in CHANNEL_TYPES:
                raise AlertConfigError(
                    f"{CONFIG_FILE}: alerts.channels.{name}.type is {kind!r}; use one of {', '.join(CHANNEL_TYPES)}"
                )
            settings = {k: v for k, v in raw.items() if k not in {"type", "credentials"}}
            if raw.get("credentials"):
                key = str(raw["credentials"])
                if key not in credentials:
                    raise AlertConfigError(
                        f"{CONFIG_FILE}: alerts.channels.{name}.credentials names {key!r}, "
                        "which credentials.yml does not define"
                    )
                settings.update({k: v for k, v in dict(credentials[key]).items() if v not in (None, "")})
            if kind in {"slack", "webhook"}:
                settings["url"] = _text(settings.get("url") or settings.get("webhook_url"))
            channels[name] = Channel(name, kind, settings)
        severities = dict(DEFAULT_SEVERITY)
        for kind, severity in (config.get("severities") or {}).items():
            if severity not in SEVERITIES:
                raise AlertConfigError(
                    f"{CONFIG_FILE}: alerts.severities.{kind} is {severity!r}; use one of {', '.join(SEVERITIES)}"
                )
            severities[str(kind)] = severity
        routes: dict[str, list[str]] = {}
        for severity, raw_names in (config.get("routes") or {}).items():
            if severity not in SEVERITIES:
                raise AlertConfigError(
                    f"{CONFIG_FILE}: alerts.routes.{severity}: unknown severity; use {', '.join(SEVERITIES)}"
                )
            names = [raw_names] if isinstance(raw_names, str) else list(raw_names or [])
            for name in names:
                if name not in channels:
                    raise AlertConfigError(
                        f"{CONFIG_FILE}: alerts.routes.{severity} names channel {name!r}, "
                        f"which alerts.channels does not define"
                    )
            routes[severity] = names
        retry = dict(config.get("retry") or {})
        return cls(
            channels=channels,
            routes=routes,
            severities=severities,
            attempts=max(1, int(retry.get("attempts", 3))),
            backoff_s=float(retry.get("backoff_s", 1.0)),
            timeout_s=float(retry.get("timeout_s", 10.0)),
            where_to_look=str(config.get("where_to_look") or DEFAULT_WHERE),
            redactor=SecretRedactor.from_config(credentials, {"channels": config.get("channels") or {}}),
        )

    def severity(self, kind: str) -> str:
        return self.severities.get(kind, "error" if "fail" in kind else "warning")

    def channels_for(self, kind: str) -> list[Channel]:
        return [self.channels[name] for name in self.routes.get(self.severity(kind), [])]

    # ------------------------------------------------------------------------------------------ sending
    def send(
        self,
        kind: str,
        *,
        run_id: str | None,
        summary: dict[str, Any] | None = None,
        run_context: dict[str, Any] | None = None,
    ) -> dict[str, bool]:
        """Send ``kind`` to every configured channel of its severity; ``{channel: delivered}``. Never raises."""
        try:
            event = self.event(kind, run_id=run_id, summary=summary, run_context=run_context)
        except Exception as exc:  # noqa: BLE001 - an alert must never fail the run
            logger.warning("Alert %s for run %s not built: %s", kind, run_id, type(exc).__name__)
            return {}
        delivered: dict[str, bool] = {}
        for channel in self.channels_for(kind):
            if not channel.configured:
                logger.info(
                    "Alert %s: channel %s (%s) not configured, skipped", kind, channel.name, channel.type
                )
                continue
            try:
                delivered[channel.name] = self._deliver(channel, event)
            except Exception as exc:  # noqa: BLE001 - a notifier must never fail the run
                logger.warning(
                    "Alert %s NOT sent to %s (%s): %s",
                    kind,
                    channel.name,
                    channel.address,
                    self.redactor(f"{type(exc).__name__}: {exc}"),
                )
                delivered[channel.name] = False
        if not self.channels_for(kind):
            logger.info("Alert %s (%s): no route configured", kind, event["severity"])
        return delivered

    def event(
        self,
        kind: str,
        *,
        run_id: str | None,
        summary: dict[str, Any] | None = None,
        run_context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The event every channel gets (the webhook as JSON, Slack and email as :func:`format_message`)."""
        context = {**(run_context or {}), "run_id": run_id or (run_context or {}).get("run_id")}
        summary = dict(summary or {})
        event = build_run_event(kind, context, summary)
        for key in ("failed_node", "nodes", "consecutive_failures", "reason"):
            if summary.get(key) is not None:
                event[key] = summary[key]
        event["severity"] = self.severity(kind)
        event["where_to_look"] = self.where_to_look.format(run_id=context.get("run_id"))
        event = self.redactor(event)
        event["message"] = format_message(event)
        return event

    def _deliver(self, channel: Channel, event: dict[str, Any]) -> bool:
        if channel.type == "webhook":
            return send_webhook(
                channel.settings["url"],
                event,
                timeout_s=self.timeout_s,
                attempts=self.attempts,
                backoff_s=self.backoff_s,
            )
        if channel.type == "slack":
            return send_webhook(
                channel.settings["url"],
                {"text": event["message"]},
                timeout_s=self.timeout_s,
                attempts=self.attempts,
                backoff_s=self.backoff_s,
            )
        return self._send_email(channel, event)

    def _send_email(self, channel: Channel, event: dict[str, Any]) -> bool:
        settings = channel.settings
        message = EmailMessage()
        message["Subject"] = subject(event)
        message["From"] = _text(settings.get("sender")) or "sellout@localhost"
        message["To"] = ", ".join(_recipients(settings.get("to")))
        message.set_content(event["message"])
        for attempt in range(1, self.attempts + 1):
            try:
                _smtp_send(settings, message, self.timeout_s)
            except smtplib.SMTPAuthenticationError as exc:  # retrying does not fix a wrong password
                logger.warning(
                    "Alert %s NOT sent to %s (%s): SMTP authentication failed (%s)",
                    event["event"],
                    channel.name,
                    channel.address,
                    exc.smtp_code,
                )
                return False
            except (smtplib.SMTPException, OSError) as exc:
                problem = self.redactor(f"{type(exc).__name__}")
                if attempt == self.attempts:
                    logger.warning(
                        "Alert %s NOT sent to %s (%s) after %d attempt(s): %s",
                        event["event"],
                        channel.name,
                        channel.address,
                        attempt,
                        problem,
                    )
                    return False
                delay = self.backoff_s * 2 ** (attempt - 1)
                logger.info(
                    "Email to %s attempt %d/%d failed (%s); retrying in %.1fs",
                    channel.address,
                    attempt,
                    self.attempts,
                    problem,
                    delay,
                )
                time.sleep(delay)
            else:
                logger.info("Alert %s sent to %s (%s)", event["event"], channel.name, channel.address)
                return True
        return False  # pragma: no cover - the loop always returns

    @staticmethod
    def from_routes(alert_routes: Any) -> AlertRouter:
        """A node's ``alert_routes`` input: an ``AlertRouter`` (from the hooks), the ``notifications.yml``
        mapping, or ``None`` (no alerts)."""
        if isinstance(alert_routes, AlertRouter):
            return alert_routes
        if isinstance(alert_routes, dict) and "alerts" in alert_routes:
            return AlertRouter.from_config(alert_routes, alert_routes.get("credentials"))
        return AlertRouter()


def subject(event: dict[str, Any]) -> str:
    return f"[sellout][{event['severity'].upper()}] {event['event']}: run {event.get('run_id')}"


def format_message(event: dict[str, Any]) -> str:
    """The human message: run id, what ran, how long, rows in and out, what failed, where to look."""
    lines = [subject(event)]
    what = f"pipeline {event.get('pipeline')}"
    extras = [f"{k} {event[k]}" for k in ("env", "mode") if event.get(k)]
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


def send_alert(
    kind: str,
    *,
    run_id: str,
    summary: dict,
    env: str | None = None,
    project_path: str | Path | None = None,
) -> None:
    """Route one event by severity with the project's config (for Airflow callbacks). Never raises."""
    try:
        router = load_router(env=env, project_path=project_path)
    except Exception as exc:  # noqa: BLE001 - a broken config is logged, the caller's outcome stays
        logger.warning(
            "Alert %s for run %s not sent: alert config could not be loaded: %s", kind, run_id, exc
        )
        return
    summary = dict(summary or {})
    context = {"env": env or summary.get("env")}
    router.send(kind, run_id=run_id, summary=summary, run_context=context)


def _consecutive_failures(credentials: dict[str, Any], pipeline: str | None) -> int | None:
    """From the run records, when a database is configured (never starts the embedded server)."""
    url = _text((credentials.get("db") or {}).get("url")) or _text(os.environ.get("SELLOUT_DB_URL"))
    if not url:
        return None
    try:
        from sellout.integrations import db
        from sellout.ops.status import consecutive_failures

        with db.connect(url, attempts=1) as conn:
            return consecutive_failures(conn, pipeline)
    except Exception:  # noqa: BLE001 - an alert without the count is better than no alert
        logger.info("Consecutive failures not known: run records unreadable")
        return None


def load_router(*, env: str | None = None, project_path: str | Path | None = None) -> AlertRouter:
    """The router from ``<project>/conf`` (base + ``env``), as a Kedro session would load it."""
    notifications, credentials = load_config(env=env, project_path=project_path)
    return AlertRouter.from_config(notifications, credentials)


def load_config(
    *, env: str | None = None, project_path: str | Path | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    from kedro.config import MissingConfigException

    from sellout.config.loader import config_loader

    loader = config_loader(env, project_path)
    out = []
    for key in ("notifications", "credentials"):
        try:
            out.append(dict(loader[key]))
        except MissingConfigException:
            out.append({})
    return out[0], out[1]


def _smtp_send(settings: dict[str, Any], message: EmailMessage, timeout_s: float) -> None:
    host = _text(settings.get("smtp_host"))
    port = int(settings.get("smtp_port") or 587)
    use_ssl = _flag(settings.get("ssl"), default=port == 465)
    starttls = _flag(settings.get("starttls"), default=not use_ssl)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if use_ssl:
        client = smtplib.SMTP_SSL(host, port, timeout=timeout_s, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout_s)
    with client:
        client.ehlo()
        if starttls:
            client.starttls(context=context)
            client.ehlo()
        username, password = _text(settings.get("username")), _text(settings.get("password"))
        if username and password:
            client.login(username, password)
        client.send_message(message)


def _recipients(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    return [r.strip() for r in value or [] if r and str(r).strip()]


def _flag(value: Any, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _n(value: Any) -> str:
    return f"{int(value):,}" if value is not None else "?"


__all__ = ["AlertRouter", "AlertConfigError", "send_alert", "load_router", "format_message", "first_lines"]
