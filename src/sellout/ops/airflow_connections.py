"""The Airflow connections ``sellout_db``, ``sellout_tableau`` and ``sellout_alerts`` (``AIRFLOW_CONN_*`` variables
or the UI) as the environment variables the project's config reads."""

from __future__ import annotations

import logging
import os
from typing import Any

from airflow.sdk import Connection

logger = logging.getLogger(__name__)

DB_CONN_ID = "sellout_db"
TABLEAU_CONN_ID = "sellout_tableau"
ALERTS_CONN_ID = "sellout_alerts"


def export_connections(get_connection=None) -> list[str]:
    """Set the project's variables from Airflow connections; a variable already set is left alone.

    ``sellout_db`` (postgres): ``SELLOUT_DB_URL`` and ``SUPABASE_DB_URL``. ``sellout_tableau`` (http): host =
    server URL, login/password = token name/secret, extra ``site`` and ``jwt``. ``sellout_alerts`` (http):
    extra ``webhook_url`` (else the host). Returns the names of the variables set (never their values).
    """
    get_connection = get_connection or _airflow_connection
    exported: list[str] = []

    def put(name: str, value: Any) -> None:
        if value and not os.environ.get(name):
            os.environ[name] = str(value)
            exported.append(name)

    conn = get_connection(DB_CONN_ID)
    if conn is not None:
        url = conn.get_uri()
        url = "postgresql://" + url.split("://", 1)[1] if "://" in url else url
        put("SELLOUT_DB_URL", url)
        put("SUPABASE_DB_URL", url)
    conn = get_connection(TABLEAU_CONN_ID)
    if conn is not None:
        extra = conn.extra_dejson or {}
        put("TABLEAU_SERVER_URL", _http_url(conn))
        put("TABLEAU_SITE", extra.get("site"))
        put("TABLEAU_TOKEN_NAME", conn.login)
        put("TABLEAU_TOKEN_SECRET", conn.password)
        put("TABLEAU_JWT", extra.get("jwt"))
    conn = get_connection(ALERTS_CONN_ID)
    if conn is not None:
        extra = conn.extra_dejson or {}
        put("NOTIFY_WEBHOOK_URL", extra.get("webhook_url") or _http_url(conn))
    if exported:
        logger.info("Configuration from Airflow connections: %s", ", ".join(sorted(exported)))
    return exported


def _http_url(conn) -> str | None:
    if not conn.host:
        return None
    if "://" in conn.host:
        return conn.host
    scheme = conn.schema or "https"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{conn.host}{port}"


def _airflow_connection(conn_id: str):
    try:
        return Connection.get(conn_id)
    except Exception:  # noqa: BLE001 - an undefined connection means "configured some other way"
        return None
