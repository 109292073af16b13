"""The Airflow connections a test's DAG run reads, as on the NAS: the (fake) Tableau server and the alert route."""

from __future__ import annotations

import json

from support.tableau_fake import FakeTableauServer
from support.webhook_sink import WebhookSink


def connection_variables(tableau: FakeTableauServer, sink: WebhookSink) -> dict[str, str]:
    """``AIRFLOW_CONN_SELLOUT_TABLEAU`` and ``AIRFLOW_CONN_SELLOUT_ALERTS`` for ``tableau`` and ``sink``."""
    host, port = tableau.url.removeprefix("http://").split(":")
    tableau_conn = {
        "conn_type": "http",
        "host": host,
        "port": int(port),
        "schema": "http",
        "login": tableau.token_name,
        "password": tableau.token_secret,
        "extra": {"site": ""},
    }
    alerts_conn = {"conn_type": "http", "extra": {"webhook_url": sink.url()}}
    return {
        "AIRFLOW_CONN_SELLOUT_TABLEAU": json.dumps(tableau_conn),
        "AIRFLOW_CONN_SELLOUT_ALERTS": json.dumps(alerts_conn),
    }
