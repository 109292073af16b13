"""The feature set: training cells, the features stage's content key, the panel and engine it carries."""

import numpy as np
from support.forecast_panels import closed_days_panel, promo_panel

from sellout.pipelines.features.feature_set import training_cells
from sellout.pipelines.features.nodes import build_model_features
from sellout.pipelines.features.wide import to_wide

PARAMS = {"lags": [1, 2, 52], "rolling_windows": [4], "rolling_std_windows": [4], "exclude": []}
PROMOTION = {"price_cut": 0.05}


def test_the_feature_set_carries_the_panel_and_the_engine_it_was_computed_with():
    panel = promo_panel(30)
    feature_set = build_model_features(panel, PARAMS, {"price_cut": 0.2})
    assert feature_set.panel.units.shape == (4, 30) and feature_set.engine.promotion.price_cut == 0.2
    np.testing.assert_array_equal(
        feature_set.x,
        feature_set.engine.model_matrix(feature_set.panel, *training_cells(feature_set.panel, 29)),
    )
    same = build_model_features(panel.copy(), PARAMS, {"price_cut": 0.2})
    assert same.fingerprint == feature_set.fingerprint
    assert build_model_features(panel, PARAMS, PROMOTION).fingerprint != feature_set.fingerprint
    changed = panel.copy()
    changed.loc[0, "units"] += 1
    assert build_model_features(changed, PARAMS, {"price_cut": 0.2}).fingerprint != feature_set.fingerprint


def test_training_cells_respect_origin_history_and_window():
    wp = to_wide(promo_panel(30))
    rows, cols = training_cells(wp, until_col=20)
    assert cols.max() == 20 and cols.min() == 1 and len(rows) == 4 * 20
    _, cols52 = training_cells(wp, until_col=29, min_history=10)
    assert cols52.min() == 10
    _, recent = training_cells(wp, until_col=29, train_weeks=5)
    assert recent.min() == 25


def test_each_row_of_the_model_matrix_is_its_cells_features():
    feature_set = build_model_features(promo_panel(30), PARAMS, PROMOTION)
    engine, panel = feature_set.engine, feature_set.panel
    rows, cols = training_cells(panel, 29)
    matrices = engine.matrices(panel)
    x = engine.model_matrix(panel, rows[::-1], cols[::-1])  # any order of cells
    assert x.dtype == np.float32 and x.flags["C_CONTIGUOUS"] and x.shape == (len(rows), len(engine.columns))
    for j, name in enumerate(engine.columns):
        np.testing.assert_array_equal(x[:, j], matrices[name][rows[::-1], cols[::-1]].astype("float32"), name)


def test_a_daily_feed_trains_on_units_per_open_day_and_never_on_a_week_closed_throughout():
    feature_set = build_model_features(closed_days_panel(), PARAMS, PROMOTION)
    wp = feature_set.panel
    open_days = 7.0 - wp.exog["days_closed"][feature_set.rows, feature_set.cols]
    assert (open_days > 0).all()  # S1's week closed throughout is no training cell
    assert len(feature_set) == len(training_cells(wp, len(wp.weeks) - 1)[0]) - 2
    units = wp.units[feature_set.rows, feature_set.cols]
    np.testing.assert_allclose(feature_set.y, units * 7.0 / open_days)
