"""The one alert path: an event goes to every configured channel of its severity (``notifications.yml``).

Nothing here raises to the caller: a notifier that is down is retried with backoff, logged (host only, never a URL
path, token or password) and reported as not delivered. An alert never changes a run's outcome.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from sellout.config.notifications import Channel, Notifications, validate_notifications
from sellout.config.secrets import Redactor, safe_url
from sellout.integrations.alert_events import build_run_event, format_message, subject
from sellout.integrations.email import send_email
from sellout.integrations.webhook import send_webhook

logger = logging.getLogger(__name__)


def channel_address(channel: Channel) -> str:
    """Where a channel sends to, safe to log."""
    if channel.type == "email":
        return f"smtp://{channel.smtp_host}:{channel.port}"
    return safe_url(channel.url.get_secret_value() if channel.url else None)


@dataclass
class AlertRouter:
    config: Notifications = field(default_factory=Notifications)
    redactor: Redactor = field(default_factory=Redactor, repr=False)

    @classmethod
    def from_config(
        cls, notifications: Mapping[str, Any] | None, credentials: Mapping[str, Any] | None = None
    ) -> AlertRouter:
        """The router of a ``notifications.yml`` mapping; secrets in ``credentials`` are redacted too."""
        config = validate_notifications(notifications, credentials)
        return cls(config, Redactor.from_config(config, credentials or {}))

    @property
    def channels(self) -> dict[str, Channel]:
        return self.config.alerts.channels

    def severity(self, kind: str) -> str:
        return self.config.alerts.severity(kind)

    def channels_for(self, kind: str) -> list[tuple[str, Channel]]:
        return self.config.alerts.channels_for(kind)

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
        routed = self.channels_for(kind)
        if not routed:
            logger.info("Alert %s (%s): no route configured", kind, event["severity"])
        delivered: dict[str, bool] = {}
        for name, channel in routed:
            if not channel.configured:
                logger.info("Alert %s: channel %s (%s) not configured, skipped", kind, name, channel.type)
                continue
            try:
                delivered[name] = self._deliver(name, channel, event)
            except Exception as exc:  # noqa: BLE001 - a notifier must never fail the run
                problem = self.redactor(f"{type(exc).__name__}: {exc}")
                logger.warning(
                    "Alert %s NOT sent to %s (%s): %s", kind, name, channel_address(channel), problem
                )
                delivered[name] = False
        return delivered

    def event(
        self,
        kind: str,
        *,
        run_id: str | None,
        summary: dict[str, Any] | None = None,
        run_context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The event every channel gets (the webhook as JSON, Slack and e-mail as its message)."""
        context = {**(run_context or {}), "run_id": run_id or (run_context or {}).get("run_id")}
        event = build_run_event(kind, context, summary)
        event["severity"] = self.severity(kind)
        event["where_to_look"] = self.config.alerts.where_to_look.format(run_id=context.get("run_id"))
        event = self.redactor(event)
        event["message"] = format_message(event)
        return event

    def _deliver(self, name: str, channel: Channel, event: dict[str, Any]) -> bool:
        retry = self.config.alerts.retry
        if channel.type in ("webhook", "slack"):
            payload = event if channel.type == "webhook" else {"text": event["message"]}
            return send_webhook(
                channel.url.get_secret_value(),  # type: ignore[union-attr]
                payload,
                timeout_s=retry.timeout_s,
                attempts=retry.attempts,
                backoff_s=retry.backoff_s,
            )
        message = EmailMessage()
        message["Subject"] = subject(event)
        message["From"] = channel.sender or "sellout@localhost"
        message["To"] = ", ".join(channel.to)
        message.set_content(event["message"])
        try:
            send_email(
                channel,
                message,
                timeout_s=retry.timeout_s,
                attempts=retry.attempts,
                backoff_s=retry.backoff_s,
            )
        except smtplib.SMTPAuthenticationError as exc:  # retrying does not fix a wrong password
            logger.warning(
                "Alert %s NOT sent to %s (%s): SMTP authentication failed (%s)",
                event["event"],
                name,
                channel_address(channel),
                exc.smtp_code,
            )
            return False
        except (smtplib.SMTPException, OSError) as exc:
            logger.warning(
                "Alert %s NOT sent to %s (%s) after %d attempt(s): %s",
                event["event"],
                name,
                channel_address(channel),
                retry.attempts,
                type(exc).__name__,
            )
            return False
        logger.info("Alert %s sent to %s (%s)", event["event"], name, channel_address(channel))
        return True
