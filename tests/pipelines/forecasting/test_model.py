"""The global LightGBM model: training cells, recursion on its own forecasts, promotions as known inputs."""

import pickle

import numpy as np
import pytest
from support.forecast_panels import promo_panel

from sellout.pipelines.features.wide import to_wide
from sellout.pipelines.forecasting.model import (
    TrainingSet,
    lgbm_train_params,
    recursive_forecast,
    training_cells,
)
from sellout.pipelines.forecasting.plan import apply_plan

FEATURES = {"lags": [1, 2, 52], "rolling_windows": [4, 13], "rolling_std_windows": [4]}
LGBM = {"n_estimators": 60, "num_leaves": 15, "min_child_samples": 5, "num_threads": 1, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def fitted():
    wp = to_wide(promo_panel(70, stores=("S1", "S2", "S3")))
    training = TrainingSet.from_panel(wp, FEATURES)
    return wp, training, training.fit(len(wp.weeks) - 1, LGBM)


def test_training_cells_respect_origin_history_and_window():
    wp = to_wide(promo_panel(30))
    rows, cols = training_cells(wp, until_col=20)
    assert cols.max() == 20 and cols.min() == 1 and len(rows) == 4 * 20
    _, cols52 = training_cells(wp, until_col=29, min_history=10)
    assert cols52.min() == 10
    _, recent = training_cells(wp, until_col=29, train_weeks=5)
    assert recent.min() == 25


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
    fed = wp.extended(0)
    fed.units = wp.units.copy()
    fed.units[rows, origin + 1] = two_steps[:, 0]
    one_step = recursive_forecast(model, fed, origin + 1, 1, rows)
    np.testing.assert_allclose(two_steps[:, 1], one_step[:, 0])
    assert (two_steps >= 0).all()


def test_model_is_picklable_and_versioned_by_configuration(fitted):
    wp, training, model = fitted
    again = pickle.loads(pickle.dumps(model))
    x = np.zeros((1, len(model.features)), dtype="float32")
    assert again.predict_matrix(x) == pytest.approx(model.predict_matrix(x))
    assert model.model_version == training.model_version(LGBM)
    assert training.model_version({**LGBM, "num_leaves": 31}) != model.model_version


def test_unknown_lightgbm_settings_are_refused():
    with pytest.raises(ValueError, match="unknown keys"):
        lgbm_train_params({"n_trees": 10})
