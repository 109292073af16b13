"""Tests of the features pipeline: model_panel -> model_features (add_features)."""

import numpy as np
import pandas as pd
import pytest

from sellout.pipelines.features import create_pipeline
from sellout.pipelines.features.nodes import (
    add_features,
    build_model_features,
    feature_columns,
    history_weeks_needed,
)

KEYS = ["store_code", "product_code", "week_end_date"]
PARAMS = {"lags": [1, 2, 3, 4, 52], "rolling_windows": [4, 13]}


def _panel(n_weeks=70, seed=3):
    """A model_panel-like frame: 2 stores x 3 products, the last series starting later."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2023-01-01", periods=n_weeks, freq="7D")  # Sundays
    frames = []
    for store in ["S1", "S2"]:
        for p_i, product in enumerate(["P1", "P2", "P3"]):
            start = 20 if (store, product) == ("S2", "P3") else 0
            w = weeks[start:]
            n = len(w)
            promo = rng.random(n) < 0.25
            base = np.full(n, 2.0 + p_i)
            frames.append(
                pd.DataFrame(
                    {
                        "series_id": f"{store}|{product}",
                        "store_code": store,
                        "product_code": product,
                        "category": "C1" if p_i < 2 else None,
                        "week_end_date": w,
                        "units": rng.poisson(30, n).astype("float64"),
                        "sales_value": np.nan,
                        "price": np.where(promo, base * 0.8, base),
                        "base_price": base,
                        "feature": promo,
                        "display": ~promo,
                        "tpr_only": np.zeros(n, dtype=bool),
                        "is_filled": np.zeros(n, dtype=bool),
                    }
                )
            )
    panel = pd.concat(frames, ignore_index=True)
    panel["category"] = panel["category"].astype("str")
    # shuffled on purpose: add_features must sort itself
    return panel.sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def panel():
    return _panel()


@pytest.fixture(scope="module")
def feats(panel):
    return add_features(panel, PARAMS)


def _previous_units(panel, k):
    """units of the same series k weeks earlier, looked up by date (independent of add_features)."""
    prev = panel[KEYS + ["units"]].copy()
    prev["week_end_date"] = prev["week_end_date"] + pd.Timedelta(weeks=k)
    return prev.rename(columns={"units": f"expected_lag_{k}"})


def test_output_has_all_feature_columns_and_rows(panel, feats):
    assert set(feature_columns(PARAMS)) <= set(feats.columns)
    assert len(feats) == len(panel)
    assert feats.equals(feats.sort_values(KEYS, ignore_index=True))
    assert feats[panel.columns].shape == panel.shape


@pytest.mark.parametrize("k", [1, 2, 4, 52])
def test_lag_k_equals_units_k_weeks_earlier_in_same_series(panel, feats, k):
    merged = feats.merge(_previous_units(panel, k), on=KEYS, how="left")
    pd.testing.assert_series_equal(merged[f"lag_{k}"], merged[f"expected_lag_{k}"], check_names=False)
    first_rows = feats.groupby(["store_code", "product_code"]).head(k)
    assert first_rows[f"lag_{k}"].isna().all()  # nothing leaks from the previous series in sort order


def test_rolling_features_use_only_past_weeks(panel, feats):
    one = feats[(feats["store_code"] == "S1") & (feats["product_code"] == "P2")].reset_index(drop=True)
    units = one["units"].to_numpy()
    t = 30
    assert one.loc[t, "roll_mean_4"] == pytest.approx(units[t - 4 : t].mean())
    assert one.loc[t, "roll_std_4"] == pytest.approx(units[t - 4 : t].std(ddof=1))
    assert one.loc[t, "roll_mean_13"] == pytest.approx(units[t - 13 : t].mean())
    assert one.loc[2, "roll_mean_13"] == pytest.approx(units[:2].mean())  # partial window at series start
    assert np.isnan(one.loc[0, "roll_mean_4"]) and np.isnan(one.loc[1, "roll_std_4"])


def test_hierarchy_aggregate_is_product_mean_of_previous_week(panel, feats):
    means = panel.groupby(["product_code", "week_end_date"])["units"].mean().rename("expected").reset_index()
    means["week_end_date"] = means["week_end_date"] + pd.Timedelta(weeks=1)
    merged = feats.merge(means, on=["product_code", "week_end_date"], how="left")
    pd.testing.assert_series_equal(merged["product_mean_units_lag_1"], merged["expected"], check_names=False)
    first_week = feats["week_end_date"] == feats["week_end_date"].min()
    assert feats.loc[first_week, "product_mean_units_lag_1"].isna().all()


def test_no_leakage_features_at_week_t_ignore_units_from_t_on(panel, feats):
    cutoff = panel["week_end_date"].sort_values().unique()[40]
    changed = panel.copy()
    later = changed["week_end_date"] >= cutoff
    changed.loc[later, "units"] = changed.loc[later, "units"] * 10 + 1000
    feats_changed = add_features(changed, PARAMS)
    upto = feats["week_end_date"] <= cutoff
    cols = feature_columns(PARAMS)
    pd.testing.assert_frame_equal(feats.loc[upto, cols], feats_changed.loc[upto, cols])
    after = feats["week_end_date"] > cutoff
    assert not np.allclose(feats.loc[after, "lag_1"], feats_changed.loc[after, "lag_1"])


def test_unknown_future_units_are_allowed(panel):
    future = panel.copy()
    last = future["week_end_date"] == future["week_end_date"].max()
    future.loc[last, "units"] = np.nan
    out = add_features(future, PARAMS)
    assert out.loc[out["week_end_date"] == out["week_end_date"].max(), "lag_1"].notna().all()


def test_calendar_price_promo_and_categorical_features(feats):
    row = feats.iloc[0]
    assert row["week_of_year"] == row["week_end_date"].isocalendar().week
    assert row["month"] == row["week_end_date"].month
    assert feats["week_of_year"].between(1, 53).all() and feats["month"].between(1, 12).all()
    np.testing.assert_allclose(feats["price_ratio"], feats["price"] / feats["base_price"])
    promo = feats["feature"]
    np.testing.assert_allclose(feats.loc[promo, "discount_depth"], 0.2)
    assert (feats.loc[~promo, "discount_depth"] == 0).all()
    assert feats["promo_feature"].dtype == "int64"
    assert (feats["promo_feature"] == feats["feature"].astype(int)).all()
    assert (feats["promo_display"] == feats["display"].astype(int)).all()
    for col in ["store_cat", "product_cat", "category_cat"]:
        assert isinstance(feats[col].dtype, pd.CategoricalDtype)
    assert list(feats["store_cat"].cat.categories) == ["S1", "S2"]
    assert feats.loc[feats["product_code"] == "P3", "category_cat"].isna().all()


def test_price_ratio_nan_when_base_price_missing_or_zero(panel):
    broken = panel.copy()
    broken.loc[0, "base_price"] = 0.0
    broken.loc[1, "base_price"] = np.nan
    out = add_features(broken, PARAMS).merge(broken.loc[[0, 1], KEYS], on=KEYS)
    assert out["price_ratio"].isna().all() and out["discount_depth"].isna().all()


def test_rejects_incomplete_weekly_grid(panel):
    gappy = panel.drop(
        index=panel.index[panel["week_end_date"] == panel["week_end_date"].min() + pd.Timedelta(weeks=5)]
    )
    with pytest.raises(ValueError, match="complete weekly grid"):
        add_features(gappy, PARAMS)


def test_params_defaults_and_helpers(panel):
    assert feature_columns(None) == feature_columns(PARAMS)
    assert history_weeks_needed(PARAMS) == 52
    assert history_weeks_needed({"lags": [1, 2], "rolling_windows": [8]}) == 9
    small = add_features(panel, {"lags": [2], "rolling_windows": [3]})
    assert "lag_1" not in small.columns and {"lag_2", "roll_mean_3"} <= set(small.columns)
    with pytest.raises(ValueError):
        feature_columns({"lags": [0]})


def test_node_and_pipeline(panel):
    pd.testing.assert_frame_equal(build_model_features(panel, PARAMS), add_features(panel, PARAMS))
    (n,) = create_pipeline().nodes
    assert n.name == "build_model_features"
    assert n.inputs == ["model_panel", "params:features"] and n.outputs == ["model_features"]
