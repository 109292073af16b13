"""The one redaction filter: known secret values become ``***`` in log lines, messages and records.

Secrets are found in config (:meth:`Redactor.from_config`): every ``SecretStr``, every value under a key that names a
secret (``*secret*``, ``*password*``, ``*token*``, ``*key*``, ``jwt``, ``*webhook*``), the password of every URL, and
the path and query of webhook URLs (Slack and n8n put their token there). Any ``user:password@`` in a text is
masked as well, known or not. :func:`install_log_filter` applies the filter to every log record of the process.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

MIN_SECRET_CHARS = 6
_SECRET_KEY_PARTS = ("secret", "password", "passwd", "token", "jwt", "key", "webhook")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


class Redactor:
    """Replaces known secret values with ``***`` in text and in nested JSON-like values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)

    @classmethod
    def from_config(cls, *configs: Any) -> Redactor:
        found: set[str] = set()
        for config in configs:
            _collect(config, "", found)
        return cls(found)

    def including(self, *configs: Any) -> Redactor:
        """A redactor that also knows the secrets of ``configs``."""
        return Redactor([*self.secrets, *Redactor.from_config(*configs).secrets])

    def __call__(self, value: Any) -> Any:
        return self.redact(value)

    def redact(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, "***")
            return _URL_PASSWORD.sub(r"\1***@", value)
        if isinstance(value, Mapping):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact(v) for v in value]
        return value


def redact_url(text: str, url: str | None) -> str:
    """``text`` without the password of ``url`` (and without any ``user:password@``)."""
    return Redactor.from_config({"url": url or ""}).redact(text)


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record's message through a redactor."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redactor.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_INSTALLED: RedactingFilter | None = None


def install_log_filter(redactor: Redactor) -> None:
    """Redact every record that reaches the root logger's handlers; a second call widens the same filter."""
    global _INSTALLED  # noqa: PLW0603 - one filter per process, shared by every handler
    if _INSTALLED is None:
        _INSTALLED = RedactingFilter(redactor)
        for handler in logging.getLogger().handlers:
            handler.addFilter(_INSTALLED)
    else:
        _INSTALLED.redactor = Redactor([*_INSTALLED.redactor.secrets, *redactor.secrets])


def _collect(value: Any, key: str, found: set[str]) -> None:
    if isinstance(value, SecretStr):
        _collect(value.get_secret_value(), key or "secret", found)
        return
    if isinstance(value, BaseModel):
        # a validated model says what is secret by its types: only its SecretStr fields (and URL passwords)
        for name in type(value).model_fields:
            field = getattr(value, name)
            if isinstance(field, SecretStr | BaseModel | Mapping | list | tuple):
                _collect(field, name, found)
            elif isinstance(field, str) and "://" in field:
                _collect_url(field, "", found)
        return
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            _collect(child, str(child_key).lower(), found)
        return
    if isinstance(value, list | tuple):
        for child in value:
            _collect(child, key, found)
        return
    if not isinstance(value, str) or not value.strip():
        return
    text = value.strip()
    if "://" in text:
        _collect_url(text, key, found)
        return
    if any(part in key for part in _SECRET_KEY_PARTS):
        found.add(text)


def _collect_url(text: str, key: str, found: set[str]) -> None:
    try:
        parts = urlsplit(text)
    except ValueError:
        return
    if parts.password:
        found.update({parts.password, unquote(parts.password)})
    is_http = parts.scheme in ("http", "https") and parts.hostname
    if (
        is_http
        and any(part in key for part in ("hook", "url", "secret"))
        and (len(parts.path) > 1 or parts.query)
    ):
        found.update({text, parts.path + (f"?{parts.query}" if parts.query else "")})


def safe_url(url: str | None) -> str:
    """``scheme://host[:port]`` of a URL: what may be logged of a webhook or server address."""
    try:
        parts = urlsplit(str(url or ""))
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme or '?'}://{parts.hostname or '?'}{port}"
    except ValueError:
        return "<invalid url>"
