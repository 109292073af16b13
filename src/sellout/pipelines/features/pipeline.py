"""Features pipeline: ``model_panel`` -> ``feature_set``."""

from kedro.pipeline import Pipeline, node

from .nodes import build_model_features


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                build_model_features,
                inputs=["model_panel", "params:features", "params:promotion"],
                outputs="feature_set",
                name="build_model_features",
            )
        ]
    )
