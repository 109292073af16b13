"""The Tableau settings (catalog entry ``tableau_settings`` + credentials ``tableau``): server, site, sign-in, items.

An empty or missing ``server_url`` means "not configured": the refresh is skipped. Sign-in is a personal access
token (``token_name`` + ``token_secret``) or a connected app's ``jwt``; ``via: n8n`` refreshes through n8n's
workflow behind ``n8n_webhook_url`` instead, which holds the Tableau credentials itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator

from sellout.config.schema import ConfigError, Strict, problems

ITEM_TYPES = ("datasource", "workbook")
DEFAULT_TIMEOUT_S = 1800.0
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF_S = 1.0


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    text = str(value).strip()
    return text or None


Text = Annotated[str | None, BeforeValidator(_clean)]
Secret = Annotated[SecretStr | None, BeforeValidator(_clean)]


def _number(default: float):
    return BeforeValidator(lambda value: default if value in (None, "") else value)


class TableauSettings(Strict):
    server_url: Annotated[str, BeforeValidator(lambda v: str(_clean(v) or "").rstrip("/"))]
    site: Annotated[str, BeforeValidator(lambda v: _clean(v) or "")] = ""
    token_name: Text = None
    token_secret: Secret = None
    jwt: Secret = None
    items: tuple[dict[str, Any], ...] = ()
    timeout_s: Annotated[float, _number(DEFAULT_TIMEOUT_S), Field(gt=0)] = DEFAULT_TIMEOUT_S
    retries: Annotated[int, _number(DEFAULT_RETRIES), Field(ge=0)] = DEFAULT_RETRIES
    backoff_s: Annotated[float, _number(DEFAULT_BACKOFF_S), Field(ge=0)] = DEFAULT_BACKOFF_S
    via: Annotated[
        Literal["tableauserverclient", "n8n"], BeforeValidator(lambda v: _clean(v) or "tableauserverclient")
    ] = "tableauserverclient"
    n8n_webhook_url: Secret = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> TableauSettings | None:
        """Settings from the ``tableau_settings`` dataset (config merged with credentials); ``None`` when no server
        is configured."""
        config = dict(config or {})
        if not _clean(config.get("server_url")):
            return None
        try:
            return cls.model_validate(config)
        except ValidationError as exc:
            raise ConfigError(problems(exc, "tableau_settings")) from None

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, value: Any) -> tuple[dict[str, Any], ...]:
        return tuple(normalize_items(list(value or [])))

    @model_validator(mode="after")
    def _can_sign_in(self) -> TableauSettings:
        if self.via == "n8n" and self.n8n_webhook_url is None:
            raise ValueError("via is 'n8n' but n8n_webhook_url is empty (set N8N_TABLEAU_WEBHOOK_URL)")
        if (
            self.via == "tableauserverclient"
            and self.jwt is None
            and not (self.token_name and self.token_secret)
        ):
            raise ValueError(
                f"Tableau server {host(self.server_url)} is configured but has no credentials: set token_name "
                "and token_secret (TABLEAU_TOKEN_NAME / TABLEAU_TOKEN_SECRET) or jwt (TABLEAU_JWT)"
            )
        return self

    @property
    def auth_label(self) -> str:
        """How we sign in, safe to log."""
        return "JWT (connected app)" if self.jwt else f"personal access token {self.token_name!r}"


def normalize_items(items: list[Any]) -> list[dict[str, Any]]:
    """Validate ``[{"type": "datasource"|"workbook", "name"|"id": ..., "project"?: ...}]``."""
    normalized = []
    for raw in items:
        if not isinstance(raw, Mapping):
            raise ValueError(f"Tableau item {raw!r}: expected a mapping with 'type' and 'name' or 'id'")
        item_type = str(raw.get("type", "")).strip().lower().replace("_", "").replace(" ", "")
        if item_type not in ITEM_TYPES:
            raise ValueError(f"Tableau item {dict(raw)!r}: 'type' must be one of {', '.join(ITEM_TYPES)}")
        item = {"type": item_type, "id": _clean(raw.get("id")), "name": _clean(raw.get("name"))}
        if not item["id"] and not item["name"]:
            raise ValueError(f"Tableau item {dict(raw)!r}: give its 'name' or its 'id'")
        if _clean(raw.get("project")):
            item["project"] = _clean(raw.get("project"))
        normalized.append(item)
    return normalized


def host(url: str) -> str:
    """``scheme://host[:port]`` of a server URL, safe to log."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"
