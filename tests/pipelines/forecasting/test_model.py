"""The global LightGBM model: recursion on its own forecasts, promotions as known inputs, one feature engine."""

import dataclasses
import pickle

import numpy as np
import pytest
from support.forecast_panels import closed_days_panel, feature_set, promo_panel

from sellout.pipelines.features.engine import ForecastWindow
from sellout.pipelines.forecasting.model import lgbm_train_params, recursive_forecast
from sellout.pipelines.forecasting.plan import apply_plan
from sellout.pipelines.forecasting.training import TrainingSet

FEATURES = {"lags": [1, 2, 52], "rolling_windows": [4, 13], "rolling_std_windows": [4], "exclude": []}
LGBM = {"n_estimators": 60, "num_leaves": 15, "min_child_samples": 5, "num_threads": 1, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def fitted():
    features = feature_set(promo_panel(70, stores=("S1", "S2", "S3")), FEATURES)
    training = TrainingSet(features)
    return features.panel, training, training.fit(len(features.panel.weeks) - 1, LGBM)


def test_planned_promotion_raises_the_forecast(fitted):
    wp, _, model = fitted
    origin = len(wp.weeks) - 1
    future = wp.extended(2)
    rows = np.arange(wp.n_series)
    apply_plan(future, origin, 2, rows, None)
    plain = recursive_forecast(model, future, origin, 2, rows)
    future.exog["feature"][:, origin + 1 :] = 1.0
    future.exog["price"][:, origin + 1 :] = 1.5
    promoted = recursive_forecast(model, future, origin, 2, rows)
    assert (promoted > plain * 1.5).mean() >= 0.75  # the panel's promoted weeks sell 4x


def test_step_two_sees_step_one_forecast(fitted):
    wp, _, model = fitted
    origin = len(wp.weeks) - 3
    rows = np.arange(wp.n_series)
    two_steps = recursive_forecast(model, wp, origin, 2, rows)
    # Writing the step-1 forecasts into units and forecasting one step from origin + 1 gives step 2.
    units = wp.units.copy()
    units[rows, origin + 1] = two_steps[:, 0]
    one_step = recursive_forecast(model, dataclasses.replace(wp, units=units), origin + 1, 1, rows)
    np.testing.assert_allclose(two_steps[:, 1], one_step[:, 0])
    assert (two_steps >= 0).all()


def test_each_step_computes_what_a_full_recomputation_would(fitted):
    wp, _, model = fitted
    origin, horizon = len(wp.weeks) - 5, 4
    rows = np.array([0, 2, 3, 5])  # a forecast of some series only: the others' future units stay unknown
    recursive = recursive_forecast(model, wp, origin, horizon, rows)
    units = wp.units.copy()
    units[:, origin + 1 :] = np.nan
    for step in range(1, horizon + 1):
        t = origin + step
        matrices = model.engine.matrices(dataclasses.replace(wp, units=units))
        x = np.column_stack([matrices[c][rows, t] for c in model.features]).astype("float32")
        np.testing.assert_allclose(recursive[:, step - 1], model.predict_matrix(x), rtol=1e-6)
        units[rows, t] = model.predict_matrix(x)


def test_training_the_backtest_and_the_forecast_see_the_same_features_of_a_cell(fitted):
    wp, training, model = fitted
    features = training.feature_set  # the backtest's and the final fit's rows: the features stage's
    for t in (20, len(wp.weeks) - 1):
        cells = np.flatnonzero(training.cols == t)
        rows = features.rows[cells]
        from_the_forecast = ForecastWindow(model.engine, wp, t - 1, 1).features(1, rows)
        np.testing.assert_allclose(from_the_forecast, training._x(training.cols == t), rtol=1e-6)


def test_model_is_picklable_and_versioned_by_configuration(fitted):
    wp, training, model = fitted
    again = pickle.loads(pickle.dumps(model))
    x = np.zeros((1, len(model.features)), dtype="float32")
    assert again.predict_matrix(x) == pytest.approx(model.predict_matrix(x))
    assert model.model_version == training.model_version(LGBM)
    assert training.model_version({**LGBM, "num_leaves": 31}) != model.model_version


def test_unknown_lightgbm_settings_are_refused():
    with pytest.raises(ValueError, match=r"lightgbm\.n_trees: unknown key"):
        lgbm_train_params({"n_trees": 10})


def test_the_huber_delta_reaches_lightgbm_for_the_huber_loss_only(fitted):
    wp, training, model = fitted
    huber, _ = lgbm_train_params({"objective": "huber", "huber_delta": 0.2})
    tweedie, _ = lgbm_train_params({"objective": "tweedie", "huber_delta": 0.2})
    assert huber["alpha"] == 0.2 and "alpha" not in tweedie
    assert tweedie == lgbm_train_params({"objective": "tweedie"})[0]  # a Tweedie model's version is unchanged
    assert training.model_version(
        {**LGBM, "objective": "huber", "huber_delta": 0.1}
    ) != training.model_version({**LGBM, "objective": "huber", "huber_delta": 0.2})


def test_a_holiday_closure_moves_its_weeks_forecast_by_its_open_days_and_not_the_next_weeks():
    # the model does not read the week's closed days: what moves the forecast is the open days alone
    features = feature_set(closed_days_panel(70), {**FEATURES, "exclude": ["days_closed"]})
    model = TrainingSet(features).fit(69, LGBM)
    future = features.panel.extended(2)
    rows = np.arange(future.n_series)
    future.exog["days_closed"][:, 70:] = 1.0
    usual = recursive_forecast(model, future, 69, 2, rows)
    future.exog["days_closed"][:, 70] = 3.0
    holiday = recursive_forecast(model, future, 69, 2, rows)
    np.testing.assert_allclose(holiday[:, 0], usual[:, 0] * 4.0 / 6.0)
    np.testing.assert_allclose(holiday[:, 1], usual[:, 1])
