"""Features node: ``model_panel`` -> ``feature_set``, what the forecasting stage trains, backtests and forecasts on.

The panel is pivoted to (series x week) matrices once here; the feature engine (engine.py, the features in
transforms.py) computes the features of every training cell (a series' weeks after its first) and goes with
them, so that the forecasting stage computes the features of future weeks the same way.
"""

from __future__ import annotations

import pandas as pd

from sellout.config.model_parameters import FeatureParams
from sellout.config.parameters import PromotionParams

from .engine import FeatureEngine
from .feature_set import FeatureSet, build_feature_set
from .fingerprint import code_digest, digest
from .wide import to_wide


def build_model_features(
    model_panel: pd.DataFrame, params: FeatureParams, promotion: PromotionParams | None = None
) -> FeatureSet:
    """Kedro node: the panel as matrices, the feature engine and the features of every training cell."""
    params = FeatureParams.of(params, "features")
    promotion = PromotionParams.of(promotion, "promotion")
    panel = to_wide(model_panel)
    engine = FeatureEngine.fit(panel, params, promotion)
    fingerprint = digest(
        frames={"model_panel": model_panel},
        settings={"features": params.model_dump(mode="json"), "promotion": promotion.model_dump(mode="json")},
        text=[code_digest(__package__)],
    )
    return build_feature_set(panel, engine, fingerprint)
