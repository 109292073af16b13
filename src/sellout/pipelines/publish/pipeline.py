"""Publish pipeline: ``forecast_write_status`` -> ``tableau_refresh_status`` -> ``notification_status``."""

from kedro.pipeline import Pipeline, node

from .nodes import notify_run_end, refresh_tableau


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                refresh_tableau,
                inputs=["forecast_write_status", "run_context", "tableau_settings"],
                outputs="tableau_refresh_status",
                name="refresh_tableau",
            ),
            node(
                notify_run_end,
                inputs=["tableau_refresh_status", "run_context", "notify_settings"],
                outputs="notification_status",
                name="notify_run_end",
            ),
        ]
    )
