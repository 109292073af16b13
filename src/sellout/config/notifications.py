"""The schema of ``conf/<env>/notifications.yml``: alert channels, which severity goes where, retries.

Each event kind has a severity; each severity routes to channels. A channel is a Slack incoming webhook (``slack``),
a JSON webhook such as n8n (``webhook``) or e-mail over SMTP (``email``). An empty address means "not configured":
the channel is skipped quietly, so a laptop without secrets runs without alerts. Addresses are secrets (webhook
URLs carry their token in the path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator

from sellout.config.schema import ConfigError, Strict, problems

CONFIG_FILE = "conf/<env>/notifications.yml"
Severity = Literal["info", "warning", "error", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")
EVENT_SEVERITIES: dict[str, str] = {
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
EVENT_KINDS = tuple(EVENT_SEVERITIES)
DEFAULT_WHERE = "sellout status --run-id {run_id}  (tables ops.pipeline_runs, ops.node_runs, ops.dbt_results)"


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _flag(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        return None if not text else text in {"1", "true", "yes", "on"}
    return value


Text = Annotated[str | None, BeforeValidator(_blank_is_none)]
Secret = Annotated[SecretStr | None, BeforeValidator(_blank_is_none)]
Flag = Annotated[bool | None, BeforeValidator(_flag)]


class Channel(Strict):
    type: Literal["slack", "webhook", "email"]
    # slack, webhook
    url: Secret = None
    # email
    smtp_host: Text = None
    smtp_port: Annotated[int | None, BeforeValidator(_blank_is_none)] = None
    starttls: Flag = None
    ssl: Flag = None
    username: Text = None
    password: Secret = None
    sender: Text = None
    to: list[str] = []
    # a key of credentials.yml whose values fill in the settings above
    credentials: Text = None

    @field_validator("to", mode="before")
    @classmethod
    def _recipients(cls, value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = value.split(",")
        return [str(r).strip() for r in value if r and str(r).strip()]

    @model_validator(mode="before")
    @classmethod
    def _webhook_url_alias(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and "webhook_url" in value:
            value = dict(value)
            value.setdefault("url", value.pop("webhook_url"))
        return value

    @property
    def configured(self) -> bool:
        if self.type == "email":
            return bool(self.smtp_host and self.to)
        return self.url is not None

    @property
    def port(self) -> int:
        return self.smtp_port or 587

    @property
    def uses_ssl(self) -> bool:
        return self.ssl if self.ssl is not None else self.port == 465

    @property
    def uses_starttls(self) -> bool:
        return self.starttls if self.starttls is not None else not self.uses_ssl


class Retry(Strict):
    attempts: Annotated[int, Field(ge=1, le=10)] = 3
    backoff_s: Annotated[float, Field(ge=0)] = 1.0
    timeout_s: Annotated[float, Field(gt=0)] = 10.0


class Alerts(Strict):
    where_to_look: str = DEFAULT_WHERE
    retry: Retry = Retry()
    severities: dict[str, Severity] = {}
    channels: dict[str, Channel] = {}
    routes: dict[Severity, list[str]] = {}

    @field_validator("routes", mode="before")
    @classmethod
    def _one_name_is_a_list(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: [v] if isinstance(v, str) else list(v or []) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _routes_name_channels(self) -> Alerts:
        for severity, names in self.routes.items():
            unknown = [name for name in names if name not in self.channels]
            if unknown:
                raise ValueError(
                    f"routes.{severity} names channel(s) {unknown}, which alerts.channels does not define"
                )
        return self

    def severity(self, kind: str) -> str:
        known = {**EVENT_SEVERITIES, **self.severities}
        return known.get(kind, "error" if "fail" in kind else "warning")

    def channels_for(self, kind: str) -> list[tuple[str, Channel]]:
        return [(name, self.channels[name]) for name in self.routes.get(self.severity(kind), [])]  # type: ignore[call-overload]


class Notifications(Strict):
    alerts: Alerts = Alerts()


def validate_notifications(
    raw: Mapping[str, Any] | None,
    credentials: Mapping[str, Any] | None = None,
    file_label: str = CONFIG_FILE,
) -> Notifications:
    """``notifications.yml`` validated; a channel's ``credentials: <key>`` takes its settings from credentials.yml."""
    raw = dict(raw or {})
    alerts = dict(raw.get("alerts") or {})
    channels = {}
    problems_found = []
    for name, channel in dict(alerts.get("channels") or {}).items():
        if isinstance(channel, Mapping) and channel.get("credentials"):
            key = str(channel["credentials"])
            if key not in (credentials or {}):
                problems_found.append(
                    f"{file_label}: alerts.channels.{name}.credentials: names {key!r}, which credentials.yml "
                    "does not define"
                )
                continue
            filled = {k: v for k, v in dict(credentials[key]).items() if v not in (None, "")}
            channels[name] = {**channel, **filled}
        else:
            channels[name] = channel
    if problems_found:
        raise ConfigError(problems_found)
    try:
        return Notifications.model_validate({**raw, "alerts": {**alerts, "channels": channels}})
    except ValidationError as exc:
        raise ConfigError(problems(exc, "", file_label)) from None
