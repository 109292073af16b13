"""Publish pipeline: ``forecast_write_status`` + ``quality_gate_status`` -> the Tableau refresh
(``tableau_refresh_status``) -> its alerts (``publish_alerts``) -> the run-end notification (``notification_status``).
"""

from kedro.pipeline import Node, Pipeline

from .nodes import alert_on_refresh, notify_run_end, refresh_tableau


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                refresh_tableau,
                inputs=["forecast_write_status", "quality_gate_status", "run_context"],
                outputs="tableau_refresh_status",
                name="refresh_tableau",
                tags=["publish", "tableau"],
            ),
            Node(
                alert_on_refresh,
                inputs=["tableau_refresh_status", "run_context"],
                outputs="publish_alerts",
                name="alert_on_refresh",
                tags=["publish", "notify"],
            ),
            Node(
                notify_run_end,
                inputs=["tableau_refresh_status", "publish_alerts", "run_context"],
                outputs="notification_status",
                name="notify_run_end",
                tags=["publish", "notify"],
            ),
        ]
    )
