"""The project's pipelines: one per stage, and ``__default__`` for the whole flow."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from sellout.pipelines import features, forecasting, ingestion, preprocessing, publish, transform

STAGES = ("ingestion", "transform", "preprocessing", "features", "forecasting", "publish")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "ingestion": ingestion.create_pipeline(),
        "transform": transform.create_pipeline(),
        "preprocessing": preprocessing.create_pipeline(),
        "features": features.create_pipeline(),
        "forecasting": forecasting.create_pipeline(),
        "publish": publish.create_pipeline(),
    }
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
