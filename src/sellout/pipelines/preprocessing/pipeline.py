"""Preprocessing pipeline: ``sellout_weekly`` (dbt mart, tested) + store/product attributes -> ``model_panel``,
and what it holds per source (``model_panel_status``: series, outage weeks, a daily feed's incomplete weeks)."""

from kedro.pipeline import Pipeline, node

from .nodes import build_model_panel, summarize_model_panel


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                build_model_panel,
                inputs=[
                    "sellout_weekly",
                    "dbt_test_status",
                    "params:preprocessing",
                    "store_attributes",
                    "product_attributes",
                    "params:promotion",
                ],
                outputs="model_panel",
                name="build_model_panel",
            ),
            node(
                summarize_model_panel,
                inputs=["incomplete_weeks", "model_panel"],
                outputs="model_panel_status",
                name="summarize_model_panel",
            ),
        ]
    )
