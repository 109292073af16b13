"""Connections to the project's PostgreSQL database (embedded locally, Supabase in prod).

Every module that talks to the database gets its connection here, so retries, the numeric loader and the
rule that passwords never reach a message live in one place.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg.types.numeric import FloatLoader
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sellout.config.secrets import redact_url
from sellout.integrations import embedded_db

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


def resolve_url(credentials: dict | str | None) -> str:
    """The connection URL of dataset credentials: ``{url: ...}``, a plain string, ``SELLOUT_DB_URL``, or the running
    embedded server's. It never starts the embedded server: a run starts it on its way in (:func:`start_if_embedded`),
    so that nothing later (a failure path above all) starts a database an operator stopped."""
    if isinstance(credentials, str):
        return credentials
    if credentials and (credentials.get("url") or credentials.get("con")):
        return credentials.get("url") or credentials["con"]
    env_url = os.environ.get("SELLOUT_DB_URL")
    if env_url:
        return env_url
    status = embedded_db.status()
    if not status.running:
        raise ConnectionError(
            "No database URL is configured and the embedded PostgreSQL server is not running "
            "(start it with `sellout db start`, or set SELLOUT_DB_URL)"
        )
    return status.url


def start_if_embedded(credentials: dict | str | None) -> str:
    """:func:`resolve_url`, starting the embedded server first when it is the database and it is not running."""
    if isinstance(credentials, str) or (credentials and (credentials.get("url") or credentials.get("con"))):
        return resolve_url(credentials)
    if os.environ.get("SELLOUT_DB_URL"):
        return os.environ["SELLOUT_DB_URL"]
    return embedded_db.url()


def connect(url: str, *, attempts: int = 4, base_delay: float = 0.5, **kwargs) -> psycopg.Connection:
    """Connect with retries and backoff on transient errors; the password never appears in the error."""
    # prepare_threshold=None: Supabase's pooler in transaction mode has no server-side prepared statements.
    kwargs.setdefault("prepare_threshold", None)

    def log_retry(state: RetryCallState) -> None:
        logger.warning(
            "Database connection failed (attempt %d/%d), retrying in %.1fs: %s",
            state.attempt_number,
            attempts,
            state.next_action.sleep if state.next_action else 0.0,
            redact_url(str(state.outcome.exception()), url),
        )

    connecting = Retrying(
        retry=retry_if_exception_type(TRANSIENT_ERRORS),
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=base_delay),
        before_sleep=log_retry,
        reraise=True,
    )
    try:
        conn = connecting(psycopg.connect, url, **kwargs)
    except TRANSIENT_ERRORS as exc:
        raise ConnectionError(
            f"Could not connect to the database at {describe(url)} after {attempts} attempts: "
            f"{redact_url(str(exc), url)}"
        ) from None
    conn.adapters.register_loader("numeric", FloatLoader)
    return conn


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
