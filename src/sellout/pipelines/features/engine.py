"""Every model feature, computed on the (series x week) matrices of a ``WidePanel`` at once.

The feature of cell (series s, week t) uses units of weeks < t only, and prices/promotions of week t and
earlier: prices and promotions of a future week are a plan known in advance (see the forecasting pipeline's
plan rule), units are not. Training and forecasting call the same ``feature_matrices``; a recursive forecast
writes its step-h forecasts into ``units`` and calls it again for step h+1.

Groups of features:

* lags ``lag_k`` and rolling ``roll_mean_w`` / ``roll_std_w`` of units up to t-1; ``base_units_13``: mean of
  the last 13 weeks without promotion; ``promo_lift_52``: mean units in promoted weeks / in other weeks over
  the last 52 weeks; ``age``: weeks since the series' first week (capped at 52);
* price and promotion of week t: price, base_price, ``price_ratio`` = price / base_price, ``discount_depth``,
  feature, display, tpr_only, ``promo_any``, ``price_index_52`` = price / mean price of the last 52 weeks;
  and of week t-1 (``promo_any_lag_1``, ``price_ratio_lag_1``), which explain ``lag_1``;
* calendar: week_of_year, month, holiday, weeks_to_holiday;
* hierarchy: the product's mean units over stores at t-1 and over weeks t-4..t-1, the category's units in the
  store at t-1 and over t-4..t-1, and the product's share of stores with feature / display / a price cut at t;
* attributes: store, product, category, manufacturer, sub_category, segment, state (categorical codes) and
  sales_area.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .calendar import calendar_features
from .wide import NUMERIC_ATTRIBUTES, WidePanel, group_mean, group_sum, rolling_mean, rolling_std, shift

DEFAULT_PARAMS: dict[str, Any] = {
    "lags": [1, 2, 3, 4, 52],
    "rolling_windows": [4, 13],
    "rolling_std_windows": [13],
    # A week counts as promoted if any promo flag is set or the price is at least this far below base price.
    "promo_price_cut": 0.05,
    # Feature columns left out of the model (computed anyway: other features may build on them).
    "exclude": [],
}
CATEGORICAL_ATTRIBUTES = ["store_code", "product_code", "category", "manufacturer", "sub_category", "segment"]
CATEGORICAL_ATTRIBUTES += ["state"]
CATEGORICAL_NAMES = {c: f"{c}_cat" for c in CATEGORICAL_ATTRIBUTES}
CALENDAR = ["week_of_year", "month", "holiday", "weeks_to_holiday"]
PRICE_PROMO = [
    "price",
    "base_price",
    "price_ratio",
    "discount_depth",
    "feature",
    "display",
    "tpr_only",
    "promo_any",
    "price_index_52",
    "promo_any_lag_1",
    "price_ratio_lag_1",
]
HIERARCHY = [
    "product_units_lag_1",
    "product_units_roll_4",
    "store_category_units_lag_1",
    "store_category_units_roll_4",
    "product_feature_share",
    "product_display_share",
    "product_price_cut_share",
]
SERIES_STATS = ["base_units_13", "promo_lift_52", "age"]
# Age is capped: a forecast only looks ~60 weeks back, and past a year a series is simply established.
MAX_AGE = 52


def resolve_feature_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults merged with ``params:features``; lags and windows as sorted unique positive ints."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    lags = sorted({int(k) for k in p["lags"]})
    windows = sorted({int(w) for w in p["rolling_windows"]})
    std_windows = sorted({int(w) for w in p["rolling_std_windows"]})
    if not lags or lags[0] != 1:
        raise ValueError(f"features.lags must be positive integers starting with 1, got {p['lags']!r}")
    if any(w < 2 for w in [*windows, *std_windows]):
        raise ValueError(f"features rolling windows must be integers >= 2, got {windows + std_windows!r}")
    return {
        **p,
        "lags": lags,
        "rolling_windows": windows,
        "rolling_std_windows": std_windows,
        "promo_price_cut": float(p["promo_price_cut"]),
        "exclude": sorted({str(c) for c in p["exclude"] or []}),
    }


def feature_columns(params: Mapping[str, Any] | None) -> list[str]:
    """The model's input columns, in a fixed order."""
    p = resolve_feature_params(params)
    columns = [
        *(f"lag_{k}" for k in p["lags"]),
        *(f"roll_mean_{w}" for w in p["rolling_windows"]),
        *(f"roll_std_{w}" for w in p["rolling_std_windows"]),
        *SERIES_STATS,
        *PRICE_PROMO,
        *CALENDAR,
        *HIERARCHY,
        *CATEGORICAL_NAMES.values(),
        *NUMERIC_ATTRIBUTES,
    ]
    unknown = sorted(set(p["exclude"]) - set(columns))
    if unknown:
        raise ValueError(f"features.exclude names unknown feature columns {unknown}")
    return [c for c in columns if c not in set(p["exclude"])]


def categorical_columns() -> list[str]:
    return [*CATEGORICAL_NAMES.values(), "holiday"]


@dataclass
class CategoryVocabulary:
    """The code of every attribute value (stable between training and forecasting)."""

    codes: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def fit(cls, series: pd.DataFrame) -> CategoryVocabulary:
        codes = {}
        for col in CATEGORICAL_ATTRIBUTES:
            values = series[col].astype("str") if col in series.columns else pd.Series(dtype="str")
            codes[col] = {v: i for i, v in enumerate(sorted(values.dropna().unique()))}
        return cls(codes)

    def encode(self, series: pd.DataFrame) -> dict[str, np.ndarray]:
        """Codes per series row; a value unseen in training is NaN (LightGBM's missing category)."""
        out = {}
        for col, mapping in self.codes.items():
            if col in series.columns:
                out[col] = series[col].astype("str").map(mapping).to_numpy(dtype="float64", na_value=np.nan)
            else:
                out[col] = np.full(len(series), np.nan)
        return out


def feature_matrices(
    wp: WidePanel, units: np.ndarray, params: Mapping[str, Any] | None, vocabulary: CategoryVocabulary
) -> dict[str, np.ndarray]:
    """Every feature as an (n_series x n_weeks) matrix, from ``units`` (NaN = unknown) and ``wp``'s plan."""
    p = resolve_feature_params(params)
    shape = units.shape
    m: dict[str, np.ndarray] = {}
    for k in p["lags"]:
        m[f"lag_{k}"] = shift(units, k)
    for w in p["rolling_windows"]:
        m[f"roll_mean_{w}"] = rolling_mean(units, w)
    for w in p["rolling_std_windows"]:
        m[f"roll_std_{w}"] = rolling_std(units, w)

    price, base_price = wp.exog["price"], wp.exog["base_price"]
    ratio = price / np.where(base_price > 0, base_price, np.nan)
    flags = {f: wp.exog[f] for f in ("feature", "display", "tpr_only")}
    price_cut = (ratio < 1.0 - p["promo_price_cut"]).astype("float64")
    promo = np.maximum.reduce([np.nan_to_num(v) for v in flags.values()] + [price_cut])
    no_promo_units = np.where(promo > 0, np.nan, units)
    promo_units = np.where(promo > 0, units, np.nan)
    m["base_units_13"] = rolling_mean(no_promo_units, 13)
    m["promo_lift_52"] = rolling_mean(promo_units, 52) / np.maximum(rolling_mean(no_promo_units, 52), 0.5)
    first_col = np.argmax(wp.in_span, axis=1)
    age = np.arange(shape[1])[None, :] - first_col[:, None]
    m["age"] = np.minimum(age, MAX_AGE).astype("float64")

    m["price"], m["base_price"] = price, base_price
    m["price_ratio"] = ratio
    m["discount_depth"] = np.clip(1.0 - ratio, 0.0, None)
    m.update(flags)
    m["promo_any"] = promo
    m["price_index_52"] = price / rolling_mean(price, 52, lag=1)
    m["promo_any_lag_1"] = shift(promo, 1)
    m["price_ratio_lag_1"] = shift(ratio, 1)

    for name, values in calendar_features(wp.weeks).items():
        m[name] = np.broadcast_to(values[None, :], shape)

    codes = vocabulary.encode(wp.series)
    product = _dense(codes["product_code"])
    store_category = _dense(codes["store_code"] * 1000.0 + codes["category"])
    product_units = group_mean(units, product)
    m["product_units_lag_1"] = shift(product_units, 1)
    m["product_units_roll_4"] = rolling_mean(product_units, 4)
    category_units = group_sum(units, store_category)
    m["store_category_units_lag_1"] = shift(category_units, 1)
    m["store_category_units_roll_4"] = rolling_mean(category_units, 4)
    m["product_feature_share"] = group_mean(flags["feature"], product)
    m["product_display_share"] = group_mean(flags["display"], product)
    m["product_price_cut_share"] = group_mean(np.where(np.isnan(ratio), np.nan, price_cut), product)

    for col, name in CATEGORICAL_NAMES.items():
        m[name] = np.broadcast_to(codes[col][:, None], shape)
    for col in NUMERIC_ATTRIBUTES:
        values = (
            pd.to_numeric(wp.series[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            if col in wp.series.columns
            else np.full(len(wp.series), np.nan)
        )
        m[col] = np.broadcast_to(values[:, None], shape)
    return m


def gather(matrices: Mapping[str, np.ndarray], columns: list[str], rows: np.ndarray, cols: np.ndarray):
    """The model matrix (float32, one row per cell (rows[i], cols[i])) of the named feature columns."""
    out = np.empty((len(rows), len(columns)), dtype="float32")
    for j, name in enumerate(columns):
        out[:, j] = matrices[name][rows, cols]
    return out


def _dense(codes: np.ndarray) -> np.ndarray:
    """Consecutive group ids 0..n-1 (NaN codes form one group of their own)."""
    return pd.factorize(pd.Series(codes).fillna(-1.0))[0].astype("int64")
