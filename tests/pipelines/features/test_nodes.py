"""The features node: the panel as matrices, the feature engine and one row per training cell."""

import numpy as np
import pytest
from kedro.validation.exceptions import ParameterValidationError
from kedro.validation.parameter_validator import ParameterValidator
from support.forecast_panels import promo_panel

from sellout.config.model_parameters import FeatureParams
from sellout.config.parameters import PromotionParams
from sellout.pipelines.features import create_pipeline
from sellout.pipelines.features.nodes import build_model_features

PARAMS = {"lags": [1, 2, 52], "rolling_windows": [4], "rolling_std_windows": [4], "exclude": []}
PROMOTION = {"price_cut": 0.05}


def test_model_features_has_one_row_per_cell_after_each_series_first_week():
    panel = promo_panel(30)
    feature_set = build_model_features(panel, PARAMS, PROMOTION)
    features = feature_set.frame()
    assert len(features) == len(feature_set) == len(panel) - 4  # 4 series, their first week has no lag
    assert set(FeatureParams.of(PARAMS).model_columns()) <= set(features.columns)
    row = features[(features["store_code"] == "S1") & (features["product_code"] == "P2")].iloc[5]
    source = panel[(panel["store_code"] == "S1") & (panel["product_code"] == "P2")].reset_index(drop=True)
    assert row["units"] == source.loc[6, "units"] and np.isclose(row["lag_1"], source.loc[5, "units"])


def test_bad_parameters_stop_the_node():
    with pytest.raises(ValueError, match=r"features\.lags"):
        build_model_features(promo_panel(10), {"lags": [2]}, PROMOTION)
    with pytest.raises(ValueError, match=r"promotion\.price_cut"):
        build_model_features(promo_panel(10), PARAMS, {"price_cut": 1.5})


def test_pipeline_wiring():
    (n,) = create_pipeline().nodes
    assert n.inputs == ["model_panel", "params:features", "params:promotion"] and n.outputs == ["feature_set"]


def test_kedro_validates_the_parameters_into_their_models_before_a_run():
    validator = ParameterValidator({"features": create_pipeline()})
    validated = validator.validate_raw_params({"features": PARAMS, "promotion": {"price_cut": 0.1}})
    assert validated["features"] == FeatureParams.of(PARAMS)
    assert validated["promotion"] == PromotionParams(price_cut=0.1)
    with pytest.raises(ParameterValidationError, match="promotion"):
        validator.validate_raw_params({"features": PARAMS, "promotion": {"price_cut": "a lot"}})
