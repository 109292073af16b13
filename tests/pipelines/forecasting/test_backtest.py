"""Rolling-origin backtest protocol, baselines and metrics."""

import numpy as np
import pandas as pd
import pytest
from support.forecast_panels import feature_set, promo_panel, source_trainings, with_outage

from sellout.pipelines.features.wide import to_wide
from sellout.pipelines.forecasting.backtest import (
    baseline_forecasts,
    mase_scales,
    origin_columns,
    run_backtest,
    score,
    score_sums,
)

LGBM = {"n_estimators": 30, "num_leaves": 7, "min_child_samples": 5, "num_threads": 1}
FEATURES = {"lags": [1, 2], "rolling_windows": [4], "rolling_std_windows": [4], "exclude": []}
PARAMS = {"lightgbm": LGBM, "target_scale": None}


def test_origins_are_the_weeks_before_the_last_one():
    wp = to_wide(promo_panel(30))
    assert origin_columns(wp, 3) == [26, 27, 28]
    assert origin_columns(wp, 3, min_training_weeks=8) == [26, 27, 28]


def test_a_short_panel_backtests_fewer_origins_and_too_short_a_one_is_refused():
    wp = to_wide(promo_panel(12))
    # 12 weeks (0..11): the first origin keeps 8 weeks (0..7) to fit on
    assert origin_columns(wp, 13, min_training_weeks=8) == [7, 8, 9, 10]
    assert origin_columns(wp, 13) == list(range(1, 11))
    with pytest.raises(ValueError, match="the panel has 12 weeks, and a backtest needs 12 to fit on"):
        origin_columns(wp, 13, min_training_weeks=12)
    with pytest.raises(ValueError, match="too little history"):
        origin_columns(to_wide(promo_panel(2)), 13)


def test_baselines():
    wp = to_wide(promo_panel(60))
    b = baseline_forecasts(wp, origin=55, horizon=3, ma_weeks=4)
    assert (b["naive"][:, 2] == wp.units[:, 55]).all()
    np.testing.assert_allclose(b["moving_average_4"][:, 0], wp.units[:, 52:56].mean(axis=1))
    assert (b["seasonal_naive"][:, 1] == wp.units[:, 55 + 2 - 52]).all()


def test_mase_scales_are_each_origins_mean_absolute_week_on_week_change():
    wp = to_wide(promo_panel(30))
    wp.units[0, :3] = np.nan  # a series that starts later
    wp.units[1, 10] = np.nan  # an outage: the changes around it are left out
    origins = [0, 1, 2, 4, 11, 29]
    scales = mase_scales(wp, origins)
    for number, origin in enumerate(origins):
        diffs = np.abs(np.diff(wp.units[:, : origin + 1], axis=1))
        counts = (~np.isnan(diffs)).sum(axis=1)
        with np.errstate(invalid="ignore"):
            expect = np.where(counts > 0, np.nansum(diffs, axis=1) / np.maximum(counts, 1), np.nan)
        np.testing.assert_allclose(scales[:, number], expect, equal_nan=True, err_msg=f"{origin=}")
    assert np.isnan(scales[0, 2]) and scales[0, 3] > 0  # origins 2 and 4


def test_scoring_formulas():
    cells = pd.DataFrame(
        {
            "method": ["m", "m", "m"],
            "forecast": [12.0, 5.0, 0.0],
            "actual": [10.0, 10.0, 0.0],
            "scale": [2.0, 0.0, 1.0],
        }
    )
    row = score(cells, ["method"]).iloc[0]
    assert row["wape"] == pytest.approx(7 / 20) and row["bias"] == pytest.approx(-3 / 20)
    assert row["mase"] == pytest.approx((2 / 2 + 0 / 1) / 2)  # the cell with scale 0 is left out
    assert row["n_cells"] == 3


def test_backtest_scores_only_cells_inside_spans_and_horizons_up_to_the_last_week():
    panel = promo_panel(40)
    ended = (panel["store_code"] == "S1") & (panel["product_code"] == "P1")
    panel = panel[~(ended & (panel["week_end_date"] > panel["week_end_date"].iloc[36]))]
    features = feature_set(panel, FEATURES)
    wp = features.panel
    reported = []
    trainings = source_trainings(features, PARAMS)
    cells, timings, _ = run_backtest(wp, trainings, origin_columns(wp, 3), 4, on_origin=reported.append)
    assert reported == timings and len(timings) == 3
    assert [t.origin for t in timings] == [36, 37, 38]
    assert all(t.wall_seconds > 0 and t.cpu_seconds >= t.forecast_cpu_seconds > 0 for t in timings)
    lgbm = cells[cells["method"] == "lightgbm"]
    # origins 36, 37, 38 (of 0..39): 3 + 2 + 1 horizons for the 3 live series, S1|P1 ends at week 36.
    assert len(lgbm) == 3 * (3 + 2 + 1)
    assert set(cells["method"]) == {"lightgbm", "naive", "moving_average_4", "seasonal_naive"} - {
        "seasonal_naive"
    }  # 40 weeks: no week 52 weeks back
    assert (lgbm["target_week"] <= wp.weeks[-1]).all()
    assert lgbm.groupby("origin_week")["horizon"].max().tolist() == [3, 2, 1]


def test_every_cell_holds_its_own_series_week_actual_and_forecast():
    features = feature_set(promo_panel(40), FEATURES)
    wp = features.panel
    origins = origin_columns(wp, 3)
    cells, _, _ = run_backtest(wp, source_trainings(features, PARAMS), origins, 2)
    assert list(cells["method"].cat.categories) == sorted(cells["method"].cat.categories)
    row_of = {
        (s, p): r
        for r, (s, p) in enumerate(zip(wp.series["store_code"], wp.series["product_code"], strict=True))
    }
    for cell in cells.itertuples():
        row, origin = row_of[(cell.store_code, cell.product_code)], wp.week_index(cell.origin_week)
        assert wp.weeks[origin + cell.horizon] == cell.target_week
        assert cell.actual == wp.units[row, origin + cell.horizon]
        if cell.method == "moving_average_4":
            expected = baseline_forecasts(wp, origin, 2, 4)["moving_average_4"][row, cell.horizon - 1]
            assert cell.forecast == expected
    assert len(cells) == len(
        cells.drop_duplicates(["method", "origin_week", "horizon", "store_code", "product_code"])
    )


def test_score_sums_taken_a_chunk_of_cells_at_a_time_are_the_sums_of_all_cells():
    rng = np.random.default_rng(3)
    n = 1000
    cells = pd.DataFrame(
        {
            "method": pd.Categorical(rng.choice(["lightgbm", "naive"], n)),
            "horizon": rng.integers(1, 5, n),
            "category": pd.Categorical(rng.choice(["A", "B", None], n)),
            "forecast": rng.gamma(2.0, 3.0, n),
            "actual": rng.poisson(5, n).astype(float),
            "scale": rng.choice([0.0, 1.5, 2.0], n),
        }
    )
    by = ["method", "horizon", "category"]
    whole = score_sums(cells, by, dropna=False)
    chunked = score_sums(cells, by, dropna=False, chunk_rows=97)
    assert whole["category"].isna().any() and len(whole) == len(chunked)
    pd.testing.assert_frame_equal(whole, chunked, check_exact=False, rtol=1e-12)


def test_outage_weeks_are_neither_scored_nor_forecast_by_baselines_as_zero():
    panel = with_outage(promo_panel(40), "S2", [])
    weeks = sorted(panel["week_end_date"].unique())
    panel = with_outage(panel, "S2", weeks[36:38])
    features = feature_set(panel, FEATURES)
    wp = features.panel
    cells, _, _ = run_backtest(wp, source_trainings(features, PARAMS), origin_columns(wp, 3), 4)
    out = cells[(cells["store_code"] == "S2") & cells["target_week"].isin(weeks[36:38])]
    assert out.empty and cells["actual"].notna().all()
    # from origin 37 (an outage week) the naive forecast is the last week before the outage
    naive = cells[
        (cells["method"] == "naive") & (cells["store_code"] == "S2") & (cells["origin_week"] == weeks[37])
    ]
    s2 = panel[panel["store_code"] == "S2"].set_index(["product_code", "week_end_date"])["units"]
    for row in naive.itertuples():
        assert row.forecast == s2[(row.product_code, weeks[35])]


def test_cells_say_whether_the_target_week_was_promoted_and_in_which_measure():
    panel = promo_panel(40)
    features = feature_set(panel, FEATURES)
    wp = features.panel
    cells, _, _ = run_backtest(wp, source_trainings(features, PARAMS), origin_columns(wp, 3), 2)
    lookup = panel.set_index(["store_code", "product_code", "week_end_date"])["feature"]
    expected = [lookup[(r.store_code, r.product_code, r.target_week)] for r in cells.itertuples()]
    assert cells["promoted"].tolist() == expected and cells["promoted"].any() and not cells["promoted"].all()
    assert set(cells["measure"]) == {"units"} and set(cells["source"]) == {"default"}
