"""The (series x week) matrices and their vectorised window/group operations."""

import pickle

import numpy as np
import pandas as pd
import pytest

from sellout.pipelines.features.wide import (
    carry_over,
    factorize_keys,
    group_mean,
    group_sum,
    rolling_mean,
    rolling_std,
    shift,
    to_wide,
)

WEEKS = pd.date_range("2024-01-03", periods=6, freq="7D")


def _panel():
    rows = []
    for store, start, n in (("S1", 0, 6), ("S2", 2, 3)):
        for i in range(n):
            rows.append(
                {
                    "store_code": store,
                    "product_code": "P1",
                    "week_end_date": WEEKS[start + i],
                    "units": float(10 * (start + i) + (store == "S2")),
                    "price": 2.0,
                    "base_price": 2.5,
                    "feature": i == 1,
                    "display": False,
                    "tpr_only": False,
                    "category": "C",
                }
            )
    return pd.DataFrame(rows)


def test_to_wide_keeps_spans_and_values():
    wp = to_wide(_panel())
    assert list(wp.series["store_code"]) == ["S1", "S2"]
    assert wp.units.shape == (2, 6)
    assert wp.in_span[1].tolist() == [False, False, True, True, True, False]
    assert np.isnan(wp.units[1, 0]) and wp.units[1, 2] == 21.0
    assert wp.exog["feature"][1, 3] == 1.0
    assert wp.series["category"].tolist() == ["C", "C"]


def test_to_wide_refuses_duplicates_and_mixed_weekdays():
    panel = _panel()
    with pytest.raises(ValueError, match="duplicate"):
        to_wide(pd.concat([panel, panel.iloc[[0]]]))
    shifted = panel.copy()
    shifted.loc[0, "week_end_date"] += pd.Timedelta(days=2)
    with pytest.raises(ValueError, match="same weekday"):
        to_wide(shifted)
    with pytest.raises(ValueError, match="lacks columns"):
        to_wide(panel.drop(columns="price"))


def test_window_operations_match_a_plain_loop():
    rng = np.random.default_rng(1)
    a = rng.poisson(5, (4, 20)).astype(float)
    a[1, :5] = np.nan
    a[2, 7] = np.nan
    for w in (2, 4, 13):
        mean, std = rolling_mean(a, w), rolling_std(a, w)
        for r in range(4):
            for t in range(20):
                window = a[r, max(t - w, 0) : t]
                window = window[~np.isnan(window)]
                expect = window.mean() if len(window) else np.nan
                np.testing.assert_allclose(mean[r, t], expect, equal_nan=True)
                expect_sd = window.std(ddof=1) if len(window) >= 2 else np.nan
                np.testing.assert_allclose(std[r, t], expect_sd, equal_nan=True, atol=1e-9)
    lagged = shift(a, 3)
    assert np.isnan(lagged[:, :3]).all() and (lagged[0, 3:] == a[0, :-3]).all()


def test_rolling_means_at_any_lag_and_window_match_a_plain_loop():
    rng = np.random.default_rng(2)
    a = rng.poisson(5, (3, 12)).astype(float)
    a[0, :4] = np.nan
    a[1, 6] = np.nan
    for lag in (0, 1, 3, 15):
        for w in (1, 2, 5, 13, 30):
            mean = rolling_mean(a, w, lag=lag)
            for r in range(3):
                for t in range(12):
                    window = a[r, max(t - lag - w + 1, 0) : max(t - lag + 1, 0)]
                    window = window[~np.isnan(window)]
                    expect = window.mean() if len(window) else np.nan
                    np.testing.assert_allclose(mean[r, t], expect, equal_nan=True, err_msg=f"{lag=} {w=}")
    with pytest.raises(ValueError, match="lag"):
        rolling_mean(a, 4, lag=-1)


def test_group_operations_ignore_missing_values():
    a = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, np.nan]])
    groups = np.array([0, 0, 1])
    np.testing.assert_allclose(group_mean(a, groups), [[2.0, 4.0], [2.0, 4.0], [5.0, np.nan]])
    np.testing.assert_allclose(group_sum(a, groups), [[4.0, 4.0], [4.0, 4.0], [5.0, np.nan]])


def test_keys_factorized_column_by_column_match_a_sorted_multiindex():
    rng = np.random.default_rng(3)
    keys = pd.DataFrame(
        {
            "store_code": rng.choice(["10", "9", "S-1", "ä2", "b"], size=500),
            "product_code": rng.choice([f"P{i}" for i in range(40)] + ["", "001"], size=500),
        }
    ).astype("str")
    row, series = factorize_keys(keys)
    codes, uniques = pd.MultiIndex.from_frame(keys).factorize(sort=True)
    assert row.tolist() == list(codes)
    assert list(series.itertuples(index=False, name=None)) == list(uniques)
    assert (series.iloc[row].to_numpy() == keys.to_numpy()).all()


def test_a_missing_key_is_a_key_of_its_own():
    keys = pd.DataFrame({"store_code": ["b", None, "a", None], "product_code": ["1", "1", "1", "2"]}).astype(
        "str"
    )
    row, series = factorize_keys(keys)
    assert row.tolist() == [1, 2, 0, 3]
    assert series["store_code"].iloc[:2].tolist() == ["a", "b"] and series["store_code"].iloc[2:].isna().all()
    assert series["product_code"].tolist() == ["1", "1", "1", "2"]


def test_an_outage_carries_the_last_known_value_into_it():
    units = np.array([[1.0, np.nan, np.nan, 4.0, np.nan], [np.nan, np.nan, 2.0, np.nan, np.nan]])
    outage = np.array([[False, True, True, False, True], [True, True, False, False, True]])
    expected = np.array([[1.0, 1.0, 1.0, 4.0, 4.0], [np.nan, np.nan, 2.0, np.nan, 2.0]])
    np.testing.assert_array_equal(
        carry_over(units, outage), expected
    )  # a missing week that is no outage stays


@pytest.mark.parametrize("seed", range(20))
def test_a_window_of_columns_carries_over_what_the_whole_history_would(seed):
    rng = np.random.default_rng(seed)
    n_series, n_weeks = 12, int(rng.integers(1, 40))
    units = rng.gamma(2.0, 5.0, (n_series, n_weeks))
    units[rng.random(units.shape) < 0.2] = np.nan
    outage = np.zeros(units.shape, dtype=bool)
    for row in range(n_series):  # a run of outage weeks or two per series
        for _ in range(int(rng.integers(0, 3))):
            first = int(rng.integers(0, n_weeks))
            outage[row, first : first + int(rng.integers(1, 12))] = True
    units[outage] = np.nan
    whole = carry_over(units, outage)
    for start in range(n_weeks + 1):
        np.testing.assert_array_equal(
            carry_over(units, outage, start), whole[:, start:], err_msg=f"start {start}"
        )


def test_a_pickled_panel_leaves_its_series_cache_behind():
    wp = to_wide(_panel())
    wp.window(0, 3).series_cache()["derived"] = np.arange(wp.n_series)  # a window shares its panel's cache
    assert "derived" in wp.series_cache()
    again = pickle.loads(pickle.dumps(wp, protocol=5))
    assert again.series_cache() == {}
    np.testing.assert_array_equal(again.units, wp.units)
    assert again.series.equals(wp.series)


def test_an_empty_panel_is_refused_with_its_likely_causes():
    with pytest.raises(ValueError, match="no series with preprocessing.min_weeks_history weeks of sales yet"):
        to_wide(_panel().iloc[:0])
