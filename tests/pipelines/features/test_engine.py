"""Feature matrices: no look-ahead, promotions known in advance, hierarchy aggregates, categorical codes."""

import dataclasses

import numpy as np
import pytest
from support.forecast_panels import closed_days_panel, promo_panel

from sellout.config.model_parameters import PROMOTION_HISTORY, FeatureParams
from sellout.config.parameters import PromotionParams
from sellout.pipelines.features.engine import FeatureEngine, ForecastWindow
from sellout.pipelines.features.transforms import FeatureInputs
from sellout.pipelines.features.wide import to_wide

PARAMS = {"lags": [1, 2, 52], "rolling_windows": [4], "rolling_std_windows": [4], "exclude": []}


def _panel(n_weeks=60):
    return promo_panel(n_weeks)


def _engine(wp, params=PARAMS):
    return FeatureEngine.fit(wp, FeatureParams.of(params), PromotionParams())


def _matrices(panel):
    wp = to_wide(panel)
    return wp, _engine(wp).matrices(wp)


def test_features_of_a_week_do_not_change_when_its_units_or_later_units_change():
    panel = _panel()
    wp, before = _matrices(panel)
    t = 40
    changed = wp.units.copy()
    changed[:, t:] = 999.0
    after = _engine(wp).matrices(dataclasses.replace(wp, units=changed))
    for name in FeatureParams.of(PARAMS).model_columns():
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


def test_the_promotion_rule_decides_which_weeks_count_as_promoted():
    wp = to_wide(_panel())
    week = int(np.flatnonzero(wp.exog["feature"][0] == 0)[0])
    wp.exog["price"][0, week] = 1.9  # 5% below the base price of 2.0, no flag
    params = FeatureParams.of(PARAMS)
    strict = FeatureEngine.fit(wp, params, PromotionParams(price_cut=0.01)).matrices(wp)
    lenient = FeatureEngine.fit(wp, params, PromotionParams(price_cut=0.10)).matrices(wp)
    assert strict["promo_any"][0, week] == 1.0 and lenient["promo_any"][0, week] == 0.0


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="starting with 1"):
        FeatureParams.of({"lags": [2, 3]})
    with pytest.raises(ValueError, match="unknown feature columns"):
        FeatureParams.of({"exclude": ["no_such_feature"]})
    assert "month" not in FeatureParams.of({"exclude": ["month"]}).model_columns()
    with pytest.raises(ValueError, match=r"rolling_windows\.0"):
        FeatureParams.of({"rolling_windows": [1, 4]}, "features")


def test_the_engine_computes_exactly_the_columns_the_parameters_name():
    wp = to_wide(_panel())
    params = FeatureParams.of(PARAMS)
    assert list(_engine(wp).matrices(wp, every_feature=True)) == params.all_columns()
    engine = _engine(wp, {**PARAMS, "exclude": ["month", "lag_2"]})
    assert (
        list(engine.matrices(wp))
        == engine.columns
        == [c for c in params.all_columns() if c not in ("month", "lag_2")]
    )


def test_a_forecast_keeps_the_history_its_longest_feature_reads():
    wp = to_wide(_panel(80)).extended(4)
    origin = 79
    default = FeatureEngine.fit(wp, FeatureParams(), PromotionParams())
    window = ForecastWindow(default, wp, origin, 4)
    assert default.history_weeks == window.history_weeks == 65  # season_ratio_52: week t-52 and 13 before it
    assert window.panel.units.shape[1] == 65 + 4 and window.panel.weeks[-1] == wp.weeks[origin + 4]

    lag_60 = FeatureParams(lags=[1, 2, 60], exclude=["lag_2", "season_ratio_52"])
    longer = ForecastWindow(FeatureEngine.fit(wp, lag_60, PromotionParams()), wp, origin, 4)
    assert longer.history_weeks == 60 and longer.panel.units.shape[1] == 64

    yearly = ["lag_52", "roll_mean_52", "promo_lift_52", "price_index_52", "roll_std_13", "season_ratio_52"]
    yearly += PROMOTION_HISTORY
    short = FeatureParams(lags=[1, 52], rolling_windows=[4, 52], exclude=yearly)
    assert FeatureEngine.fit(wp, short, PromotionParams()).history_weeks == 13  # base_units_13
    assert ForecastWindow(default, wp, 30, 4).history_weeks == 31  # the panel's start cuts it short


def test_a_forecast_window_leaves_the_panel_alone_and_hides_the_weeks_it_forecasts():
    wp = to_wide(_panel(60))
    before = wp.units.copy()
    window = ForecastWindow(FeatureEngine.fit(wp, FeatureParams.of(PARAMS), PromotionParams()), wp, 55, 4)
    assert np.isnan(window.inputs.units[:, window.origin + 1 :]).all()
    window.record(1, np.arange(wp.n_series), np.full(wp.n_series, 7.0))
    assert (window.inputs.units[:, window.origin + 1] == 7.0).all()
    np.testing.assert_array_equal(wp.units, before)


def test_a_forecast_of_few_series_computes_their_own_features_on_their_rows_alone(monkeypatch):
    wp = to_wide(promo_panel(60, stores=("S1", "S2", "S3", "S4"), products=("P1", "P2", "P3")))
    engine = FeatureEngine.fit(wp, FeatureParams(), PromotionParams())
    window = ForecastWindow(engine, wp, 55, 4)
    of_rows = FeatureInputs.of_rows
    calls = []
    monkeypatch.setattr(
        FeatureInputs, "of_rows", lambda self, rows: calls.append(rows) or of_rows(self, rows)
    )
    rows = np.array([7, 2, 10])  # 3 of 12 series, out of order
    for step in range(1, 5):
        every_series = engine.step(window.inputs, window.origin + step, rows)  # each feature on every row
        np.testing.assert_array_equal(window.features(step, rows), every_series)
        window.record(step, rows, np.full(len(rows), 10.0 * step))  # later steps read these forecasts
    assert len(calls) == 1  # the rows' inputs are kept from one step to the next


def test_a_daily_feeds_features_read_units_per_open_day():
    wp = to_wide(closed_days_panel())
    engine = _engine(wp)
    units, no_demand = engine.demand(wp)
    open_days = 7.0 - wp.exog["days_closed"]
    s1 = (wp.series["store_code"] == "S1").to_numpy()
    open_weeks = ~(s1[:, None] & (np.arange(len(wp.weeks)) == 20)[None, :])
    np.testing.assert_allclose(units[open_weeks], wp.units[open_weeks] * 7.0 / open_days[open_weeks])
    # S1's week closed throughout says nothing of demand: an outage, carried over by the lags
    assert np.isnan(units[s1, 20]).all() and no_demand[s1, 20].all() and not no_demand[~s1, 20].any()
    m = engine.matrices(wp)
    np.testing.assert_allclose(m["lag_1"][s1, 21], units[s1, 19])
    # a holiday week sells less but not less per open day: the next week's lag reads the open days' rate
    np.testing.assert_allclose(m["lag_1"][:, 14], wp.units[:, 13] * 7.0 / 5.0)


def test_weekly_feeds_and_per_open_day_off_read_units_as_delivered():
    weekly = to_wide(_panel())
    assert weekly.open_share() is None
    units, no_demand = _engine(weekly).demand(weekly)
    assert units is weekly.units and no_demand is weekly.outage
    daily = to_wide(closed_days_panel())
    off = _engine(daily, {**PARAMS, "per_open_day": False})
    assert off.demand(daily)[0] is daily.units
    np.testing.assert_array_equal(off.matrices(daily)["lag_1"][:, 1:], daily.units[:, :-1])


def test_a_forecast_window_gives_the_models_forecasts_in_units_of_the_weeks_open_days():
    wp = to_wide(closed_days_panel(60)).extended(2)
    wp.exog["days_closed"][:, 60:] = [[1.0, 3.0]]
    window = ForecastWindow(_engine(wp), wp, 59, 2)
    rows = np.array([0, 3])
    per_open_day = np.array([[7.0, 14.0], [70.0, 140.0]])
    np.testing.assert_allclose(window.in_units(rows, per_open_day), per_open_day * [[6 / 7, 4 / 7]])
