"""Tests of the forecasting pipeline: training, recursive forecasts, intervals and the backtest."""

import pickle
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sellout.pipelines.features.nodes import add_features
from sellout.pipelines.forecasting import create_pipeline
from sellout.pipelines.forecasting.nodes import (
    BACKTEST_COLUMNS,
    FORECAST_COLUMNS,
    ForecastModel,
    add_intervals,
    backtest_forecast,
    build_future_plan,
    forecast_next_weeks,
    recursive_forecast,
    select_active_history,
    train_forecast_model,
    write_forecasts,
)
from sellout.pipelines.preprocessing.nodes import build_model_panel

FEATURE_PARAMS = {"lags": [1, 2, 3, 4, 52], "rolling_windows": [4, 13]}
PARAMS = {"horizon": 6, "n_estimators": 100, "num_threads": 1, "min_child_samples": 10, "seed": 7}
RUN = {
    "run_id": "run-42",
    "mode": "full",
    "dry_run": False,
    "env": "test",
    "started_at": "2024-07-01T06:00:00+00:00",
}
N_WEEKS = 80
WEEKS = pd.date_range("2023-01-07", periods=N_WEEKS, freq="7D")  # Saturdays


def _sellout(seed=0):
    """3 stores x 4 products x 80 weeks, yearly seasonality, promo uplift x2.5, a few gaps, special series."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_WEEKS)
    frames = []
    for s_i, store in enumerate(["S1", "S2", "S3"]):
        for p_i, product in enumerate(["P1", "P2", "P3", "P4"]):
            base = 2.0 + p_i
            promo = rng.random(N_WEEKS) < 0.2
            season = 1 + 0.6 * np.sin(2 * np.pi * t / 52 + p_i)
            units = rng.poisson(40.0 * (1 + s_i) * (1 + 0.5 * p_i) * season * np.where(promo, 2.5, 1.0))
            frames.append(
                pd.DataFrame(
                    {
                        "week_end_date": WEEKS,
                        "store_code": store,
                        "product_code": product,
                        "category": f"C{p_i % 2}",
                        "units": units.astype("float64"),
                        "sales_value": units * base,
                        "price": np.where(promo, 0.7 * base, base),
                        "base_price": base,
                        "feature": promo,
                        "display": promo & (t % 2 == 0),
                        "tpr_only": np.zeros(N_WEEKS, dtype=bool),
                    }
                )
            )
    raw = pd.concat(frames, ignore_index=True)
    is_ = lambda s, p: (raw["store_code"] == s) & (raw["product_code"] == p)  # noqa: E731
    gaps = is_("S1", "P2") & raw["week_end_date"].isin(WEEKS[[30, 31, 60]])
    short = is_("S3", "P4") & (raw["week_end_date"] < WEEKS[75])  # only 5 weeks: dropped (min 8)
    delisted = is_("S2", "P3") & (raw["week_end_date"] > WEEKS[69])  # stops 10 weeks before origin
    pausing = is_("S2", "P4") & (raw["week_end_date"] > WEEKS[77])  # stops 2 weeks before origin
    return raw[~(gaps | short | delisted | pausing)].reset_index(drop=True)


@pytest.fixture(scope="module")
def panel():
    return build_model_panel(_sellout(), {"success": True}, {"min_weeks_history": 8})


@pytest.fixture(scope="module")
def model(panel):
    return train_forecast_model(add_features(panel, FEATURE_PARAMS), PARAMS, FEATURE_PARAMS)


@pytest.fixture(scope="module")
def forecasts(model, panel):
    return forecast_next_weeks(model, panel, RUN, PARAMS)


def _series_set(frame):
    return set(zip(frame["store_code"], frame["product_code"], strict=True))


# ------------------------------------------------------------------------------------------------- training


def test_training_drops_rows_without_short_lags_but_keeps_missing_lag_52(model, panel):
    feats = add_features(panel, FEATURE_PARAMS)
    assert model.n_train_rows == int(feats["lag_4"].notna().sum())
    assert model.n_train_rows > int(feats["lag_52"].notna().sum())
    assert model.trained_until == panel["week_end_date"].max()
    assert model.lgbm_params["objective"] == "tweedie"
    assert model.lgbm_params["tweedie_variance_power"] == 1.2
    assert model.lgbm_params["n_jobs"] == 1 and model.lgbm_params["n_estimators"] == 100
    assert model.residual_quantiles["lower"] <= 0 <= model.residual_quantiles["upper"]


def test_model_is_picklable_and_predicts_the_same(model, panel):
    feats = add_features(panel, FEATURE_PARAMS).dropna(subset=["lag_4"]).head(50)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(clone.predict(feats), model.predict(feats))
    assert (model.predict(feats) >= 0).all()


def test_model_version_format_and_sensitivity(model, panel):
    assert re.fullmatch(r"lgbm-[0-9a-f]{8}", model.model_version)
    feats = add_features(panel, FEATURE_PARAMS)
    small = {**PARAMS, "n_estimators": 5}
    v1 = train_forecast_model(feats, small, FEATURE_PARAMS).model_version
    assert v1 == train_forecast_model(feats, small, FEATURE_PARAMS).model_version
    assert v1 != train_forecast_model(feats, {**small, "num_leaves": 7}, FEATURE_PARAMS).model_version
    assert v1 != model.model_version


# ---------------------------------------------------------------------------------------------- forecasting


def test_forecast_schema_and_one_row_per_series_and_horizon(forecasts, panel):
    assert list(forecasts.columns) == list(FORECAST_COLUMNS)
    assert forecasts.dtypes.astype(str).to_dict() == FORECAST_COLUMNS
    assert not forecasts.duplicated(["store_code", "product_code", "horizon"]).any()
    counts = forecasts.groupby(["store_code", "product_code"]).size()
    assert (counts == PARAMS["horizon"]).all()
    assert sorted(forecasts["horizon"].unique()) == list(range(1, PARAMS["horizon"] + 1))
    assert (forecasts["run_id"] == "run-42").all()
    assert (forecasts["created_at"] == RUN["started_at"]).all()


def test_forecast_dates_values_and_intervals(forecasts, panel, model):
    origin = panel["week_end_date"].max()
    assert (forecasts["origin_week"] == origin).all()
    expected = origin + pd.to_timedelta(forecasts["horizon"] * 7, unit="D")
    assert (forecasts["target_week"] == expected).all()
    assert (forecasts["forecast_units"] >= 0).all() and forecasts["forecast_units"].notna().all()
    assert (forecasts["forecast_p10"] <= forecasts["forecast_units"]).all()
    assert (forecasts["forecast_units"] <= forecasts["forecast_p90"]).all()
    assert (forecasts["forecast_p10"] >= 0).all()
    assert (forecasts["forecast_p90"] > forecasts["forecast_p10"]).any()
    assert (forecasts["model_version"] == model.model_version).all()
    width = (forecasts["forecast_p90"] - forecasts["forecast_p10"]).groupby(forecasts["horizon"]).mean()
    assert width.iloc[-1] > width.iloc[0]  # wider further out


def test_active_series_rule(forecasts, panel):
    series = _series_set(forecasts)
    assert ("S2", "P4") in series  # last row 2 weeks before origin: active (zero-sales weeks up to origin)
    assert ("S2", "P3") not in series  # last row 10 weeks before origin: delisted
    assert ("S3", "P4") not in series  # too short for the panel
    assert len(series) == 10


def test_select_active_history_extends_with_zero_weeks(panel):
    origin = panel["week_end_date"].max()
    hist = select_active_history(panel, origin, active_weeks=4)
    pausing = hist[(hist["store_code"] == "S2") & (hist["product_code"] == "P4")].set_index("week_end_date")
    assert pausing.index.max() == origin
    assert (pausing.loc[WEEKS[78:], "units"] == 0).all() and pausing.loc[WEEKS[78:], "is_filled"].all()
    assert not pausing.loc[WEEKS[78:], ["feature", "display", "tpr_only"]].any().any()
    assert (pausing.loc[WEEKS[78:], "price"] == pausing.loc[WEEKS[77], "price"]).all()
    assert not pausing.index.duplicated().any()
    assert len(_series_set(select_active_history(panel, origin, active_weeks=1))) == 9


def test_future_plan_rule_last_base_price_and_no_promo(panel):
    origin = panel["week_end_date"].max()
    history = select_active_history(panel, origin, 4)
    s1p1 = (history["store_code"] == "S1") & (history["product_code"] == "P1")
    history.loc[s1p1 & (history["week_end_date"] == origin), ["price", "base_price", "feature"]] = [
        1.0,
        9.5,
        True,
    ]
    plan = build_future_plan(history, horizon=3)
    assert len(plan) == 3 * len(_series_set(history))
    assert plan["units"].isna().all()
    assert not plan[["feature", "display", "tpr_only"]].any().any()
    assert (plan["price"] == plan["base_price"]).all()
    p = plan[(plan["store_code"] == "S1") & (plan["product_code"] == "P1")]
    assert (p["base_price"] == 9.5).all()
    assert list(p["week_end_date"]) == [origin + pd.Timedelta(weeks=h) for h in (1, 2, 3)]


class _LastPlusOne:
    """A stand-in model: predicts lag_1 + 1, to check that the recursion feeds forecasts back."""

    def predict(self, x):
        return x["lag_1"].to_numpy() + 1.0


def test_recursion_feeds_forecasts_back_as_lags(panel, model):
    stub = replace(model, model=_LastPlusOne())
    origin = panel["week_end_date"].max()
    history = select_active_history(panel, origin, 4)
    out = recursive_forecast(stub, history, build_future_plan(history, 4), origin, 4)
    last = history[history["week_end_date"] == origin].set_index(["store_code", "product_code"])["units"]
    for h in (1, 2, 3, 4):
        got = out[out["horizon"] == h].set_index(["store_code", "product_code"])["forecast_units"]
        pd.testing.assert_series_equal(got, (last + h).loc[got.index], check_names=False)


def test_add_intervals_always_ordered():
    point = pd.DataFrame({"forecast_units": [0.0, 0.4, 5.0, 100.0], "horizon": [1, 2, 3, 8]})
    for q in ({"lower": -0.3, "upper": 0.4}, {"lower": 0.2, "upper": -0.1}, {}):
        out = add_intervals(point, q)
        assert (out["forecast_p10"] >= 0).all()
        assert (out["forecast_p10"] <= out["forecast_units"]).all()
        assert (out["forecast_units"] <= out["forecast_p90"]).all()
    out = add_intervals(point, {"lower": -0.3, "upper": 0.4})
    assert out.loc[3, "forecast_p90"] == pytest.approx(100 + 0.4 * np.sqrt(8) * 100)
    assert out.loc[0, "forecast_p90"] == pytest.approx(0.4)  # scale floor of 1 unit


# ------------------------------------------------------------------------------------------------- backtest


@pytest.fixture(scope="module")
def backtest(panel):
    return backtest_forecast(panel, RUN, {**PARAMS, "backtest_plan": "actual"}, FEATURE_PARAMS)


def test_backtest_schema_methods_and_horizons(backtest, panel):
    assert list(backtest.columns) == list(BACKTEST_COLUMNS)
    assert backtest.dtypes.astype(str).to_dict() == BACKTEST_COLUMNS
    assert len(backtest) == 3 * 4
    assert set(backtest["method"]) == {"lightgbm", "naive", "moving_average_4"}
    for _, g in backtest.groupby("method"):
        assert list(g["horizon"]) == [1, 2, 3, 4]
    origin = np.sort(panel["week_end_date"].unique())[-5]
    assert (backtest["origin_week"] == origin).all()
    assert (backtest["run_id"] == "run-42").all()
    # 10 series are active at the origin (the short one is not in the panel, the delisted one stopped);
    # S2|P4 has no actual rows for the last 2 holdout weeks.
    assert backtest.set_index(["method", "horizon"]).loc[("naive", 1), "n_cells"] == 10
    assert backtest.set_index(["method", "horizon"]).loc[("naive", 4), "n_cells"] == 9
    assert (backtest["wape"] >= 0).all() and backtest["bias"].notna().all()


def test_backtest_naive_metrics_match_hand_computation(backtest, panel):
    origin = np.sort(panel["week_end_date"].unique())[-5]
    keys = ["store_code", "product_code"]
    at_origin = panel[panel["week_end_date"] == origin].set_index(keys)["units"]
    actual = panel[panel["week_end_date"] == origin + pd.Timedelta(weeks=1)].set_index(keys)["units"]
    common = at_origin.index.intersection(actual.index)
    err = at_origin.loc[common] - actual.loc[common]
    row = backtest.set_index(["method", "horizon"]).loc[("naive", 1)]
    assert row["wape"] == pytest.approx(err.abs().sum() / actual.loc[common].sum())
    assert row["bias"] == pytest.approx(err.sum() / actual.loc[common].sum())


def test_lightgbm_beats_naive_on_seasonal_promo_data(backtest, panel):
    wape = backtest.groupby("method")["wape"].mean()
    assert wape["lightgbm"] < 0.8 * wape["naive"]
    assert wape["lightgbm"] < wape["moving_average_4"]
    rule = backtest_forecast(panel, RUN, {**PARAMS, "backtest_plan": "rule"}, FEATURE_PARAMS)
    rule_wape = rule.groupby("method")["wape"].mean()
    assert rule_wape["lightgbm"] < rule_wape["naive"]
    # knowing the real promos in the holdout must help
    assert wape["lightgbm"] < rule_wape["lightgbm"]


def test_backtest_needs_enough_history(panel):
    tiny = panel[panel["week_end_date"] >= np.sort(panel["week_end_date"].unique())[-7]]
    with pytest.raises(ValueError, match="backtest needs"):
        backtest_forecast(tiny, RUN, PARAMS, FEATURE_PARAMS)


def test_empty_inputs_give_empty_typed_forecasts(model, panel):
    empty = forecast_next_weeks(model, panel.iloc[0:0], RUN, PARAMS)
    assert empty.empty and empty.dtypes.astype(str).to_dict() == FORECAST_COLUMNS


def test_invalid_params_rejected(model, panel):
    with pytest.raises(ValueError):
        forecast_next_weeks(model, panel, RUN, {"horizon": 0})
    with pytest.raises(ValueError):
        backtest_forecast(panel, RUN, {"backtest_plan": "oracle"}, FEATURE_PARAMS)


def test_pipeline_wiring():
    nodes = {n.name: n for n in create_pipeline().nodes}
    assert set(nodes) == {
        "train_forecast_model",
        "forecast_next_weeks",
        "write_forecasts",
        "backtest_forecast",
    }
    assert nodes["train_forecast_model"].outputs == ["forecast_model"]
    assert nodes["forecast_next_weeks"].inputs == [
        "forecast_model",
        "model_panel",
        "run_context",
        "params:forecasting",
    ]
    assert nodes["forecast_next_weeks"].outputs == ["forecast_frame"]
    assert nodes["write_forecasts"].outputs == ["forecasts", "forecast_write_status"]
    assert nodes["backtest_forecast"].outputs == ["backtest_metrics"]
    assert "run_context" in nodes["backtest_forecast"].inputs
    assert nodes["train_forecast_model"].inputs == ["model_features", "params:forecasting", "params:features"]
    assert nodes["backtest_forecast"].inputs == [
        "model_panel",
        "run_context",
        "params:forecasting",
        "params:features",
    ]


def test_forecast_model_fields(model):
    assert isinstance(model, ForecastModel)
    assert model.features[:5] == ["lag_1", "lag_2", "lag_3", "lag_4", "lag_52"]
    assert model.feature_params["lags"] == FEATURE_PARAMS["lags"]


def test_write_forecasts_reports_what_it_hands_on():
    frame = pd.DataFrame(
        {
            "model_version": ["lgbm-1"] * 4,
            "origin_week": pd.to_datetime(["2024-01-06"] * 4),
            "store_code": ["A", "A", "B", "B"],
            "product_code": ["p", "p", "p", "p"],
            "horizon": [1, 2, 1, 2],
        }
    )
    written, status = write_forecasts(frame, {"run_id": "r9"})
    assert written is frame
    assert status == {
        "run_id": "r9",
        "table": "forecast.forecasts",
        "rows": 4,
        "series": 2,
        "origin_week": "2024-01-06",
        "model_version": "lgbm-1",
    }
