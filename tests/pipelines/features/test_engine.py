"""Feature matrices: no look-ahead, promotions known in advance, hierarchy aggregates, categorical codes."""

import numpy as np
import pytest
from support.forecast_panels import promo_panel

from sellout.pipelines.features.engine import (
    CategoryVocabulary,
    feature_columns,
    feature_matrices,
    resolve_feature_params,
)
from sellout.pipelines.features.wide import to_wide

PARAMS = {"lags": [1, 2, 52], "rolling_windows": [4], "rolling_std_windows": [4]}


def _panel(n_weeks=60):
    return promo_panel(n_weeks)


def _matrices(panel):
    wp = to_wide(panel)
    return wp, feature_matrices(wp, wp.units, PARAMS, CategoryVocabulary.fit(wp.series))


def test_features_of_a_week_do_not_change_when_its_units_or_later_units_change():
    panel = _panel()
    wp, before = _matrices(panel)
    t = 40
    changed = wp.units.copy()
    changed[:, t:] = 999.0
    after = feature_matrices(wp, changed, PARAMS, CategoryVocabulary.fit(wp.series))
    for name in feature_columns(PARAMS):
        np.testing.assert_array_equal(before[name][:, t], after[name][:, t], err_msg=name)


def test_promotion_of_the_target_week_is_an_input_and_lags_shift_units():
    wp, m = _matrices(_panel())
    np.testing.assert_array_equal(m["feature"], wp.exog["feature"])
    np.testing.assert_allclose(m["discount_depth"][wp.exog["feature"] == 1], 0.25)
    np.testing.assert_array_equal(m["lag_2"][:, 5], wp.units[:, 3])
    assert np.isnan(m["lag_52"][:, 51]).all() and (m["lag_52"][:, 52] == wp.units[:, 0]).all()


def test_hierarchy_features_aggregate_over_stores_and_categories():
    wp, m = _matrices(_panel())
    p1 = (wp.series["product_code"] == "P1").to_numpy()
    np.testing.assert_allclose(m["product_units_lag_1"][p1][0, 10], wp.units[p1][:, 9].mean())
    s1_c1 = ((wp.series["store_code"] == "S1") & (wp.series["category"] == "C1")).to_numpy()
    np.testing.assert_allclose(m["store_category_units_lag_1"][s1_c1][0, 10], wp.units[s1_c1][:, 9].sum())
    np.testing.assert_allclose(m["product_feature_share"][p1][0, 7], wp.exog["feature"][p1][:, 7].mean())


def test_base_units_ignore_promoted_weeks():
    wp, m = _matrices(_panel())
    promo = wp.exog["feature"][0, 17:30] == 1
    assert (~promo).any()
    window = wp.units[0, 17:30][wp.exog["feature"][0, 17:30] == 0]
    np.testing.assert_allclose(m["base_units_13"][0, 30], window.mean())


def test_category_codes_are_stable_and_unseen_values_missing():
    wp, _ = _matrices(_panel())
    vocab = CategoryVocabulary.fit(wp.series)
    other = wp.series.copy()
    other.loc[0, "segment"] = "NEW"
    codes = vocab.encode(other)
    assert np.isnan(codes["segment"][0]) and codes["segment"][1] == vocab.codes["segment"]["MAINSTREAM"]


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="starting with 1"):
        resolve_feature_params({"lags": [2, 3]})
    with pytest.raises(ValueError, match="unknown feature columns"):
        feature_columns({"exclude": ["no_such_feature"]})
    assert "month" not in feature_columns({"exclude": ["month"]})
