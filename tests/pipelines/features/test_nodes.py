"""The features node: one row per training cell with every feature column."""

import numpy as np
from support.forecast_panels import promo_panel

from sellout.pipelines.features import create_pipeline
from sellout.pipelines.features.engine import feature_columns
from sellout.pipelines.features.nodes import build_model_features

PARAMS = {"lags": [1, 2, 52], "rolling_windows": [4], "rolling_std_windows": [4]}


def test_model_features_has_one_row_per_cell_after_each_series_first_week():
    panel = promo_panel(30)
    features = build_model_features(panel, PARAMS)
    assert len(features) == len(panel) - 4  # 4 series, their first week has no lag
    assert set(feature_columns(PARAMS)) <= set(features.columns)
    row = features[(features["store_code"] == "S1") & (features["product_code"] == "P2")].iloc[5]
    source = panel[(panel["store_code"] == "S1") & (panel["product_code"] == "P2")].reset_index(drop=True)
    assert row["units"] == source.loc[6, "units"] and np.isclose(row["lag_1"], source.loc[5, "units"])


def test_pipeline_wiring():
    (n,) = create_pipeline().nodes
    assert n.inputs == ["model_panel", "params:features"] and n.outputs == ["model_features"]
