"""Publish pipeline: ``forecast_write_status`` + ``quality_gate_status`` -> ``tableau_refresh_status`` ->
``notification_status``.

``alert_routes`` (the routes of ``notifications.yml``) is put into the catalog by the observability hooks;
``ops_db`` is the database that holds ``ops.tableau_refreshes``.
"""

from kedro.pipeline import Node, Pipeline

from .nodes import notify_run_end, refresh_tableau


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                refresh_tableau,
                inputs=[
                    "forecast_write_status",
                    "quality_gate_status",
                    "run_context",
                    "tableau_settings",
                    "alert_routes",
                    "ops_db",
                ],
                outputs="tableau_refresh_status",
                name="refresh_tableau",
                tags=["publish", "tableau"],
            ),
            Node(
                notify_run_end,
                inputs=["tableau_refresh_status", "run_context", "alert_routes"],
                outputs="notification_status",
                name="notify_run_end",
                tags=["publish", "notify"],
            ),
        ]
    )
