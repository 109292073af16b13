"""The honest backtest: for a source without a promo plan, what production published at an origin is what the
backtest scored for that origin, through the real nodes (preprocessing, features, settings, training with the
stored full fits of earlier weeks, the forecast, the backtest)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from support.forecast_panels import closed_days_panel, promo_panel

from sellout.datasets import MemoDataset
from sellout.pipelines.features.nodes import build_model_features
from sellout.pipelines.forecasting import intervals
from sellout.pipelines.forecasting.nodes import (
    backtest_forecast,
    choose_model_settings,
    forecast_next_weeks,
    train_forecast_model,
)
from sellout.pipelines.preprocessing.nodes import build_model_panel

FEATURES = {"lags": [1, 2, 52], "rolling_windows": [4, 13], "rolling_std_windows": [4], "exclude": []}
# No plan is configured (known_inputs: rule, the default); the refit schedule replays 3 origins: a full fit
# at the first, refreshes at the next two. The settings are fixed (one candidate): a choice made at another
# week's full fit could differ, and that is not what this test is about.
PARAMS = {
    "horizon": 4,
    "backtest": {"origins": 3, "horizon": 4},
    "lightgbm": {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 5, "num_threads": 1},
    "refit": {"full_every_weeks": 5, "refresh_rounds": 10},
    "selection": {"candidates": [{"name": "scaled_tweedie"}]},
}


def _run(mart: pd.DataFrame, memo: dict[str, MemoDataset], run_id: str):
    """One production run on the weeks of ``mart``: panel, features, settings, model, backtest, forecast."""
    run = {"run_id": run_id, "started_at": "2024-01-01T00:00:00+00:00"}
    panel = build_model_panel(mart, {"success": True}, {"min_weeks_history": 1})
    features = build_model_features(panel, FEATURES, {"price_cut": 0.05})
    settings = choose_model_settings(features, memo["full_fits"].load(), None, PARAMS)
    model, _, full_fits = train_forecast_model(features, settings, {}, memo["full_fits"].load(), PARAMS)
    memo["full_fits"].save(full_fits)
    _, _, cells, calibration, _, production = backtest_forecast(
        features, settings, None, {}, {}, run, PARAMS, None, model
    )
    published = forecast_next_weeks(model, features, None, calibration, run, PARAMS, production)
    return cells, calibration, published, model


@pytest.fixture(scope="module")
def mart():
    weekly = promo_panel(70, stores=("S1", "S2", "S3")).drop(columns="is_filled")
    return weekly.assign(source="grocer", sales_value=weekly["units"] * weekly["price"])


@pytest.fixture(scope="module")
def daily_mart():
    """A daily feed's weeks: closed days (holidays, a week closed throughout), units per open day modelled."""
    weekly = closed_days_panel(70, stores=("S1", "S2", "S3")).drop(columns="is_filled")
    return weekly.assign(source="grocer", sales_value=weekly["units"] * weekly["price"])


@pytest.mark.parametrize("feed", ["mart", "daily_mart"])
def test_what_production_published_is_what_the_backtest_scored(feed, request, tmp_path_factory):
    mart = request.getfixturevalue(feed)
    memo = {"full_fits": MemoDataset(tmp_path_factory.mktemp("memo"), keep=3)}
    weeks = sorted(mart["week_end_date"].unique())
    last = len(weeks) - 1
    cells, *_ = _run(mart, {"full_fits": MemoDataset(tmp_path_factory.mktemp("other"))}, "backtest")
    scored = cells[cells["method"] == "lightgbm"]
    kinds = []
    for origin in range(last - 3, last):  # the backtest's origins: production ran at each of those weeks
        _, calibration, published, model = _run(
            mart[mart["week_end_date"] <= weeks[origin]], memo, f"w{origin}"
        )
        kinds.append("refresh" if model.refreshed else "full fit")
        scale = intervals.for_source(calibration, "grocer")["scale"]
        keys = ["store_code", "product_code", "horizon"]
        at_origin = scored[scored["origin_week"] == weeks[origin]]
        both = at_origin.merge(published, on=keys, how="inner", suffixes=("", "_published"))
        assert (
            len(both) == len(at_origin) == 6 * (last - origin)
        )  # every series, horizons up to the last week
        np.testing.assert_allclose(both["forecast_units"], both["forecast"] * scale, rtol=1e-6)
        assert (both["measure_published"] == "units").all()
    assert kinds == ["full fit", "refresh", "refresh"]  # the schedule production ran is the one replayed


def test_a_plan_delivered_for_a_rule_source_changes_nothing(mart, tmp_path):
    memo = {"full_fits": MemoDataset(tmp_path)}
    _, calibration, plain, model = _run(mart, memo, "r1")
    panel = build_model_panel(mart, {"success": True}, {"min_weeks_history": 1})
    features = build_model_features(panel, FEATURES, {"price_cut": 0.05})
    week = plain["target_week"].min()
    plan = pd.DataFrame(
        {"store_code": ["S1"], "product_code": ["P1"], "week_end_date": [week], "feature": [True]}
    )
    run = {"run_id": "r1", "started_at": "x"}
    with_plan = forecast_next_weeks(model, features, plan, calibration, run, PARAMS)
    pd.testing.assert_frame_equal(with_plan.drop(columns="created_at"), plain.drop(columns="created_at"))
    (source_model,) = model.models.values()
    assert "feature" not in source_model.features and "discount_depth" not in source_model.features
    # nor when the weeks before were promoted (a forecast week's, from the second on); their levels stay
    assert "weeks_since_promo" not in source_model.features and "promo_units_26" in source_model.features
    assert model.settings["grocer"]["known_inputs"] == "rule"


def test_the_backtest_keeps_for_next_week_what_this_run_publishes(mart):
    """Production's forecasts from the last week are made once, by the backtest node: it keeps their first weeks
    (next week's last origin, which that run scores) and forecast_next_weeks publishes them level-corrected,
    as it would have made them itself."""
    run = {"run_id": "r1", "started_at": "2024-01-01T00:00:00+00:00"}
    params = {**PARAMS, "horizon": 6}  # published 6 weeks ahead, 4 of them kept (the backtest's horizon)
    panel = build_model_panel(mart, {"success": True}, {"min_weeks_history": 1})
    features = build_model_features(panel, FEATURES, {"price_cut": 0.05})
    settings = choose_model_settings(features, {}, None, params)
    model, _, _ = train_forecast_model(features, settings, {}, {}, params)
    *_, calibration, to_store, production = backtest_forecast(
        features, settings, None, {}, {}, run, params, None, model
    )
    published = forecast_next_weeks(model, features, None, calibration, run, params, production)
    made_again = forecast_next_weeks(model, features, None, calibration, run, params)
    pd.testing.assert_frame_equal(published, made_again)
    # the forecasts handed over are the ones published; made from other inputs, they are made again
    doubled = replace(production, point=production.point * 2)
    twice = forecast_next_weeks(model, features, None, calibration, run, params, doubled)
    np.testing.assert_allclose(twice["forecast_units"], 2 * published["forecast_units"])
    stale = replace(doubled, key="made from another week's panel")
    from_stale = forecast_next_weeks(model, features, None, calibration, run, params, stale)
    pd.testing.assert_frame_equal(from_stale, published)

    (by_origin,) = to_store.values()
    last_week = max(by_origin)
    assert last_week == features.panel.weeks[-1] == production.origin_week
    kept = by_origin[last_week]
    assert kept.known == params["backtest"]["horizon"] < production.horizon == 6
    scale = intervals.for_source(calibration, "grocer")["scale"]
    kept_cells = kept.keys.assign(**{f"h{h}": kept.forecasts[:, h - 1] for h in range(1, kept.known + 1)})
    kept_cells = kept_cells.melt(id_vars=["store_code", "product_code"], var_name="h", value_name="kept")
    kept_cells["horizon"] = kept_cells.pop("h").str[1:].astype("int64")
    both = kept_cells.merge(published, on=["store_code", "product_code", "horizon"])
    assert len(both) == len(kept_cells) == 6 * kept.known  # every series in span, every kept week
    np.testing.assert_allclose(both["forecast_units"], both["kept"] * scale, rtol=1e-6)
