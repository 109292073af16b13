"""Level scaling: the level of a cell, which features it divides, and a scaled model forecasting in units."""

import pickle

import numpy as np
import pytest
from support.forecast_panels import feature_set, promo_panel

from sellout.pipelines.forecasting.model import recursive_forecast
from sellout.pipelines.forecasting.target_scale import TargetScale
from sellout.pipelines.forecasting.training import TrainingSet

FEATURES = ["lag_1", "roll_mean_4", "roll_mean_13", "price", "product_units_lag_1"]
SCALE = {"features": ["roll_mean_4", "roll_mean_13"], "offset": 1.0}
PANEL_FEATURES = {"lags": [1, 2, 52], "rolling_windows": [4, 13], "rolling_std_windows": [4], "exclude": []}
LGBM = {"n_estimators": 60, "num_leaves": 15, "min_child_samples": 5, "num_threads": 1, "learning_rate": 0.1}


def test_no_features_means_no_scaling():
    assert TargetScale.from_params(None, FEATURES) is None
    assert TargetScale.from_params({"features": []}, FEATURES) is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"features": ["roll_mean_26"]}, r"\['roll_mean_26'\] are not model features"),
        ({"features": ["price"]}, "must be unit-valued"),
        ({"features": ["lag_1"], "offset": 0}, r"target_scale\.offset: Input should be greater than 0"),
        ({"features": ["lag_1"], "floor": 1}, r"target_scale\.floor: unknown key"),
    ],
)
def test_bad_settings_name_the_key(params, message):
    with pytest.raises(ValueError, match=message):
        TargetScale.from_params(params, FEATURES)


def test_level_is_the_mean_of_known_features_plus_offset():
    scale = TargetScale.from_params(SCALE, FEATURES)
    x = np.array(
        [
            [5, 4, 8, 2.0, 100],
            [5, np.nan, 8, 2.0, 100],
            [5, np.nan, np.nan, 2.0, 100],
        ],
        dtype="float32",
    )
    np.testing.assert_allclose(scale.level(x, FEATURES), [7.0, 9.0, 1.0])


def test_only_unit_valued_features_are_divided_and_the_input_is_left_alone():
    scale = TargetScale.from_params(SCALE, FEATURES)
    x = np.array([[14, 12, 16, 2.0, 100]], dtype="float32")
    scaled, level = scale.scale_features(x, FEATURES)
    assert level[0] == pytest.approx(15.0)
    np.testing.assert_allclose(scaled[0], [14 / 15, 12 / 15, 16 / 15, 2.0, 100])
    assert x[0, 0] == 14


def test_in_place_scaling_changes_the_callers_matrix_and_holds_no_copy():
    scale = TargetScale.from_params(SCALE, FEATURES)
    x = np.array([[14, 12, 16, 2.0, 100]], dtype="float32")
    expected, _ = scale.scale_features(x, FEATURES)
    scaled, level = scale.scale_features(x, FEATURES, in_place=True)
    assert scaled is x and level[0] == pytest.approx(15.0)
    np.testing.assert_array_equal(x, expected)


def test_scaled_model_forecasts_units_at_each_series_level():
    features = feature_set(promo_panel(70, stores=("S1", "S2", "S3")), PANEL_FEATURES)
    wp = features.panel
    plain = TrainingSet(features)
    scaled = TrainingSet(features, target_scale=SCALE)
    origin = len(wp.weeks) - 3
    rows = np.arange(wp.n_series)
    model = scaled.fit(origin, LGBM)
    forecast = recursive_forecast(model, wp, origin, 2, rows)
    actual = wp.units[rows, origin + 1 : origin + 3]
    # Levels differ 4.5x between series (store x product); the forecasts follow them in units.
    assert np.abs(forecast - actual).sum() / actual.sum() < 0.35
    assert np.corrcoef(forecast.ravel(), actual.ravel())[0, 1] > 0.8
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(recursive_forecast(again, wp, origin, 2, rows), forecast)
    assert model.model_version == scaled.model_version(LGBM) != plain.model_version(LGBM)
