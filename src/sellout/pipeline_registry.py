"""The project's pipelines: one per stage, and ``__default__`` for the whole flow."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from sellout.pipelines import features, forecasting, ingestion, preprocessing, publish, transform

STAGES = ("ingestion", "transform", "preprocessing", "features", "forecasting", "publish")


def register_pipelines() -> dict[str, Pipeline]:
    """Every node is tagged with its stage, so that kedro-viz (and ``kedro run --tags``) shows and selects it."""
    modules = {
        "ingestion": ingestion,
        "transform": transform,
        "preprocessing": preprocessing,
        "features": features,
        "forecasting": forecasting,
        "publish": publish,
    }
    pipelines = {stage: module.create_pipeline().tag(stage) for stage, module in modules.items()}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
