"""Connections to the project's PostgreSQL database (embedded locally, Supabase in prod).

Every module that talks to the database gets its connection here, so retries, the numeric loader and the
rule that passwords never reach a message live in one place.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from psycopg.types.numeric import FloatLoader

logger = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TRANSIENT_ERRORS = (psycopg.OperationalError,)


class UnsafeIdentifierError(ValueError):
    """A table, schema or column name from config is not a plain SQL identifier."""


def quote_ident(name: str) -> str:
    """Quote one identifier; refuse anything that is not a plain identifier."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise UnsafeIdentifierError(
            f"{name!r} is not a plain SQL identifier (letters, digits and underscores, not starting with a digit)"
        )
    return f'"{name}"'


def quote_table(qualified: str) -> str:
    """Quote ``schema.table`` (or ``table``, which lands in ``public``)."""
    parts = qualified.split(".")
    if len(parts) > 2:
        raise UnsafeIdentifierError(f"{qualified!r} is not a table name of the form schema.table")
    return ".".join(quote_ident(part) for part in parts)


def split_table(qualified: str) -> tuple[str, str]:
    schema, _, table = qualified.rpartition(".")
    return schema or "public", table


def redact(text: str, url: str | None = None) -> str:
    """Remove the password of ``url`` (and any ``user:password@`` form) from a message."""
    if url:
        password = urlsplit(url).password
        if password:
            text = text.replace(password, "***").replace(unquote(password), "***")
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def resolve_url(credentials: dict | str | None) -> str:
    """The connection URL from dataset credentials: ``{url: ...}``, a plain string, or the environment."""
    if isinstance(credentials, str):
        return credentials
    if credentials and credentials.get("url"):
        return credentials["url"]
    if credentials and credentials.get("con"):
        return credentials["con"]
    env_url = os.environ.get("SELLOUT_DB_URL")
    if env_url:
        return env_url
    from sellout.integrations import embedded_db

    return embedded_db.url()


def connect(url: str, *, attempts: int = 4, base_delay: float = 0.5, **kwargs) -> psycopg.Connection:
    """Connect with retries and backoff on transient errors; the password never appears in the error."""
    # prepare_threshold=None: Supabase's pooler in transaction mode has no server-side prepared statements.
    kwargs.setdefault("prepare_threshold", None)
    last_error: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            conn = psycopg.connect(url, **kwargs)
            conn.adapters.register_loader("numeric", FloatLoader)
            return conn
        except TRANSIENT_ERRORS as exc:
            last_error = exc
            if attempt < attempts:
                delay = base_delay * 2 ** (attempt - 1)
                logger.warning(
                    "Database connection failed (attempt %d/%d), retrying in %.1fs: %s",
                    attempt,
                    attempts,
                    delay,
                    redact(str(exc), url),
                )
                time.sleep(delay)
    raise ConnectionError(
        f"Could not connect to the database at {describe(url)} after {attempts} attempts: "
        f"{redact(str(last_error), url)}"
    ) from None


@contextmanager
def transaction(url: str) -> Iterator[psycopg.Connection]:
    """One connection, one transaction: committed on success, rolled back on any exception."""
    conn = connect(url)
    try:
        with conn.transaction():
            yield conn
    finally:
        conn.close()


def describe(url: str) -> str:
    """A password-free description of where ``url`` points, for logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["local socket"])[0]
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.username or '?'}@{host}{port}{parts.path}"


def dsn_parts(url: str) -> dict[str, str]:
    """Host, port, user, password and database of ``url``, for tools that take them apart (dbt)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return {
        "host": str(info.get("host") or "localhost"),
        "port": str(info.get("port") or "5432"),
        "user": str(info.get("user") or "postgres"),
        "password": str(info.get("password") or ""),
        "dbname": str(info.get("dbname") or "postgres"),
        "sslmode": str(info.get("sslmode") or "prefer"),
    }
