"""Features pipeline: ``model_panel`` -> ``model_features``."""

from kedro.pipeline import Pipeline, node

from .nodes import build_model_features


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                build_model_features,
                inputs=["model_panel", "params:features"],
                outputs="model_features",
                name="build_model_features",
            )
        ]
    )
