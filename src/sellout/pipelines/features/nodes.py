"""Features: the model panel plus lag, rolling, calendar, price, promo, id and hierarchy features.

``add_features`` is the one place where features are computed; the forecasting pipeline calls it again on
history + future weeks so that training and forecasting use the same code. It needs a complete weekly grid
per series (the ``model_panel`` contract): lags are row shifts within a series.

No feature at week t uses units of week t or later (lags start at 1, rolling windows run over ``lag_1``,
and the product aggregate is the product's mean over stores at week t-1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

SERIES_KEYS = ["store_code", "product_code"]
WEEK = "week_end_date"
TARGET = "units"
ONE_WEEK = pd.Timedelta(days=7)

DEFAULT_PARAMS: dict[str, Any] = {"lags": [1, 2, 3, 4, 52], "rolling_windows": [4, 13]}

CALENDAR_FEATURES = ["week_of_year", "month"]
PRICE_FEATURES = ["price_ratio", "discount_depth"]
PROMO_FEATURES = {"feature": "promo_feature", "display": "promo_display", "tpr_only": "promo_tpr_only"}
CATEGORICAL_FEATURES = {"store_code": "store_cat", "product_code": "product_cat", "category": "category_cat"}
HIERARCHY_FEATURES = ["product_mean_units_lag_1"]


def resolve_feature_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults merged with ``params:features``; lags and windows as sorted unique positive ints."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    lags = sorted({int(k) for k in p["lags"]})
    windows = sorted({int(w) for w in p["rolling_windows"]})
    if not lags or lags[0] < 1:
        raise ValueError(f"features.lags must be positive integers, got {p['lags']!r}")
    if any(w < 2 for w in windows):
        raise ValueError(f"features.rolling_windows must be integers >= 2, got {p['rolling_windows']!r}")
    return {**p, "lags": lags, "rolling_windows": windows}


def feature_columns(params: Mapping[str, Any] | None) -> list[str]:
    """The model's input columns, in a fixed order, for the given ``params:features``."""
    p = resolve_feature_params(params)
    return [
        *(f"lag_{k}" for k in p["lags"]),
        *(f"roll_mean_{w}" for w in p["rolling_windows"]),
        *(f"roll_std_{w}" for w in p["rolling_windows"]),
        *CALENDAR_FEATURES,
        *PRICE_FEATURES,
        *PROMO_FEATURES.values(),
        *CATEGORICAL_FEATURES.values(),
        *HIERARCHY_FEATURES,
    ]


def history_weeks_needed(params: Mapping[str, Any] | None) -> int:
    """How many weeks of history before a target week the features of that week look at."""
    p = resolve_feature_params(params)
    return max([*p["lags"], max(p["rolling_windows"], default=0) + 1])


def add_features(panel: pd.DataFrame, params: Mapping[str, Any] | None) -> pd.DataFrame:
    """Return ``panel`` (sorted by series and week, fresh index) with the feature columns added.

    ``units`` may be NaN on rows still to be forecast; features of later rows then see NaN for them.
    """
    p = resolve_feature_params(params)
    df = panel.sort_values([*SERIES_KEYS, WEEK], ignore_index=True, kind="mergesort")
    sid = df.groupby(SERIES_KEYS, sort=False).ngroup()
    _check_weekly_grid(df[WEEK], sid)

    units = df[TARGET].astype("float64")
    by_series = units.groupby(sid)
    new: dict[str, pd.Series] = {f"lag_{k}": by_series.shift(k) for k in p["lags"]}

    lag_1 = new["lag_1"] if 1 in p["lags"] else by_series.shift(1)
    lag_1_by_series = lag_1.groupby(sid)
    for w in p["rolling_windows"]:
        roll = lag_1_by_series.rolling(w, min_periods=1)
        new[f"roll_mean_{w}"] = roll.mean().droplevel(0).reindex(df.index)
    for w in p["rolling_windows"]:
        roll = lag_1_by_series.rolling(w, min_periods=2)
        new[f"roll_std_{w}"] = roll.std().droplevel(0).reindex(df.index)

    new["week_of_year"] = df[WEEK].dt.isocalendar().week.astype("int64")
    new["month"] = df[WEEK].dt.month.astype("int64")

    price = df["price"].astype("float64")
    base_price = df["base_price"].astype("float64")
    ratio = price / base_price.where(base_price > 0)
    new["price_ratio"] = ratio
    new["discount_depth"] = (1.0 - ratio).clip(lower=0.0)

    for flag, name in PROMO_FEATURES.items():
        new[name] = df[flag].fillna(False).astype("int64")

    for col, name in CATEGORICAL_FEATURES.items():
        new[name] = df[col].astype("category")

    new["product_mean_units_lag_1"] = _product_mean_previous_week(df)

    out = df.drop(columns=[c for c in new if c in df.columns])
    return pd.concat([out, pd.DataFrame(new, index=df.index)], axis=1)


def build_model_features(model_panel: pd.DataFrame, params: Mapping[str, Any] | None) -> pd.DataFrame:
    """Kedro node: ``model_panel`` -> ``model_features`` (panel + all feature columns)."""
    return add_features(model_panel, params)


def _check_weekly_grid(weeks: pd.Series, sid: pd.Series) -> None:
    gaps = weeks.groupby(sid).diff().dropna()
    if not (gaps == ONE_WEEK).all():
        raise ValueError(
            "add_features needs a complete weekly grid per series (consecutive weeks 7 days apart); "
            "build it with the preprocessing pipeline"
        )


def _product_mean_previous_week(df: pd.DataFrame) -> pd.Series:
    """Mean units of the product over its stores in the previous week (t-1), aligned to ``df`` rows."""
    means = df.groupby(["product_code", WEEK], sort=False)[TARGET].mean().rename("value").reset_index()
    means[WEEK] = means[WEEK] + ONE_WEEK
    aligned = df[["product_code", WEEK]].merge(means, on=["product_code", WEEK], how="left")
    return pd.Series(aligned["value"].to_numpy(), index=df.index, dtype="float64")
