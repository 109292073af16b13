"""Preprocessing: the dbt sell-out mart to a complete weekly panel per store x product series.

Rules (see ``build_model_panel``):

* a series is one (store_code, product_code) pair; its span runs from its first to its last observed week;
* inside the span every week exists; a week without a row is a zero-sales week (``units = 0``,
  ``is_filled = True``): the product was ranged in that store but nothing was sold;
* price and base_price are forward-filled, then back-filled, within the series;
* promo flags (feature, display, tpr_only) are False where missing;
* series with fewer than ``min_weeks_history`` observed weeks are dropped;
* ranging gaps, launches, delistings and outliers are marked by ``rules.apply_rules`` (``preprocessing.rules``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sellout.canonical import (
    NUMERIC_ATTRIBUTES,
    PRICE_COLUMNS,
    PRODUCT_ATTRIBUTES,
    PROMO_FLAGS,
    SERIES_KEYS,
    STORE_ATTRIBUTES,
    WEEK,
)
from sellout.config.parameters import PreprocessingParams, PromotionParams
from sellout.pipelines.preprocessing.panel_rules import apply_rules

SERIES_KEYS = list(SERIES_KEYS)
REQUIRED_COLUMNS = [WEEK, *SERIES_KEYS, "units"]
OPTIONAL_COLUMNS = ["sales_value", *PRICE_COLUMNS, *PROMO_FLAGS]
# Store and product attributes the model uses; one value per series (the last non-null one).
ATTRIBUTES = [*PRODUCT_ATTRIBUTES, *STORE_ATTRIBUTES]
PANEL_COLUMNS = [
    "series_id",
    *SERIES_KEYS,
    *PRODUCT_ATTRIBUTES,
    *STORE_ATTRIBUTES,
    WEEK,
    "units",
    "sales_value",
    *PRICE_COLUMNS,
    *PROMO_FLAGS,
    "is_filled",
    # from rules.apply_rules: what the panel cannot tell by itself
    "is_ranged",
    "is_launch",
    "is_delisted",
    "is_outlier",
    "units_for_training",
]

ONE_WEEK = pd.Timedelta(days=7)


def check_dbt_tests(dbt_test_status: Mapping[str, Any] | None) -> None:
    """Raise if the dbt tests that guard the mart did not pass."""
    if not dbt_test_status or dbt_test_status.get("success") is not True:
        status = dict(dbt_test_status or {})
        raise RuntimeError(
            "dbt tests did not pass, refusing to build the model panel "
            f"(run_id={status.get('run_id')!r}, tests={status.get('tests')!r}, "
            f"failures={status.get('failures')!r}, success={status.get('success')!r})"
        )


def build_model_panel(
    sellout_weekly: pd.DataFrame,
    dbt_test_status: Mapping[str, Any],
    params: PreprocessingParams,
    store_attributes: pd.DataFrame | None = None,
    product_attributes: pd.DataFrame | None = None,
    promotion: PromotionParams | None = None,
) -> pd.DataFrame:
    """Build the complete weekly panel of every series with enough history.

    Args:
        sellout_weekly: the dbt mart, one row per (store_code, product_code, week_end_date).
        dbt_test_status: ``{"success": bool, ...}`` from the dbt test step; must be successful.
        params: ``params:preprocessing`` (``min_weeks_history``, ``clip_negative_units``, ``rules``).
        store_attributes: ``marts.dim_store`` (store_code + segment, state, sales_area), optional.
        product_attributes: ``marts.dim_product`` (product_code + manufacturer, sub_category), optional.
        promotion: ``params:promotion`` (when a week counts as promoted, for the outlier rule).

    Returns:
        The panel with columns ``PANEL_COLUMNS``, sorted by store_code, product_code, week_end_date.
    """
    check_dbt_tests(dbt_test_status)
    sellout_weekly = sellout_weekly[sellout_weekly.reindex(columns=["is_complete_week"]).ne(False).all(1)]
    p = PreprocessingParams.of(params, "preprocessing")

    weekly = _join_attributes(sellout_weekly, store_attributes, "store_code", list(STORE_ATTRIBUTES))
    weekly = _join_attributes(weekly, product_attributes, "product_code", list(PRODUCT_ATTRIBUTES))
    obs = _clean_observations(weekly, clip_negative=p.clip_negative_units)

    spans = (
        obs.groupby(SERIES_KEYS, sort=True)
        .agg(first_week=(WEEK, "min"), last_week=(WEEK, "max"), n_obs=(WEEK, "size"))
        .reset_index()
    )
    spans = spans[spans["n_obs"] >= p.min_weeks_history].reset_index(drop=True)
    if spans.empty:
        return _empty_panel()

    grid = _weekly_grid(spans)
    panel = grid.merge(obs, on=[*SERIES_KEYS, WEEK], how="left", indicator=True, validate="one_to_one")
    is_filled = (panel.pop("_merge") == "left_only").to_numpy()
    panel["is_filled"] = is_filled

    panel["units"] = panel["units"].fillna(0.0).astype("float64")
    panel["sales_value"] = panel["sales_value"].astype("float64").mask(is_filled, 0.0)

    sid = panel.groupby(SERIES_KEYS, sort=False).ngroup()
    for col in PRICE_COLUMNS:
        filled = panel[col].astype("float64").groupby(sid).ffill()
        panel[col] = filled.groupby(sid).bfill()
    for col in PROMO_FLAGS:
        panel[col] = panel[col].fillna(False).astype(bool)

    # One value per series for each attribute: the last non-null value observed for it.
    attributes = obs.groupby(SERIES_KEYS, sort=False)[ATTRIBUTES].last().reset_index()
    panel = panel.drop(columns=ATTRIBUTES).merge(attributes, on=SERIES_KEYS, how="left")
    for col in ATTRIBUTES:
        if col == "sales_area":
            panel[col] = pd.to_numeric(panel[col], errors="coerce").astype("float64")
        else:
            panel[col] = panel[col].astype("str")
    panel["series_id"] = panel["store_code"] + "|" + panel["product_code"]
    panel = apply_rules(panel, p, promotion)
    return panel[PANEL_COLUMNS].sort_values([*SERIES_KEYS, WEEK], ignore_index=True)


def _join_attributes(
    weekly: pd.DataFrame, attributes: pd.DataFrame | None, key: str, columns: list[str]
) -> pd.DataFrame:
    """``weekly`` with ``columns`` taken from ``attributes`` (one row per ``key``) where it lacks them."""
    if attributes is None or attributes.empty:
        return weekly
    if key not in attributes.columns:
        raise ValueError(
            f"attribute table lacks the key column {key!r} (columns: {list(attributes.columns)})"
        )
    duplicated = attributes[key].astype("str").duplicated()
    if duplicated.any():
        raise ValueError(
            f"attribute table has {int(duplicated.sum())} duplicate {key} values, e.g. "
            f"{attributes.loc[duplicated, key].iloc[0]!r}"
        )
    wanted = [c for c in columns if c in attributes.columns and c not in weekly.columns]
    if not wanted:
        return weekly
    table = attributes[[key, *wanted]].copy()
    table[key] = table[key].astype("str")
    out = weekly.copy()
    out[key] = out[key].astype("str")
    return out.merge(table, on=key, how="left")


def _clean_observations(sellout_weekly: pd.DataFrame, clip_negative: bool) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in sellout_weekly.columns]
    if missing:
        raise ValueError(f"sellout_weekly lacks required columns: {missing}")
    obs = sellout_weekly.copy()
    for col in [*OPTIONAL_COLUMNS, *ATTRIBUTES]:
        if col not in obs.columns:
            obs[col] = np.nan if col not in PROMO_FLAGS else False
    obs = obs[[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *ATTRIBUTES]]
    obs[WEEK] = pd.to_datetime(obs[WEEK]).dt.normalize().astype("datetime64[ns]")
    if obs[WEEK].isna().any():
        raise ValueError("sellout_weekly has rows with a null week_end_date")
    weekdays = obs[WEEK].dt.day_of_week.unique()
    if len(weekdays) > 1:
        raise ValueError(f"week_end_date must fall on one weekday; found weekdays {sorted(weekdays)}")
    for col in SERIES_KEYS:
        obs[col] = obs[col].astype("str")
    duplicated = obs.duplicated([*SERIES_KEYS, WEEK])
    if duplicated.any():
        example = obs.loc[duplicated, [*SERIES_KEYS, WEEK]].iloc[0].to_dict()
        raise ValueError(f"sellout_weekly has {int(duplicated.sum())} duplicate series-weeks, e.g. {example}")
    units = obs["units"].astype("float64").fillna(0.0)
    obs["units"] = units.clip(lower=0.0) if clip_negative else units
    return obs


def _weekly_grid(spans: pd.DataFrame) -> pd.DataFrame:
    """Every week from first_week to last_week of each series, built without a loop over series."""
    n_weeks = ((spans["last_week"] - spans["first_week"]) // ONE_WEEK).astype("int64") + 1
    rows = spans.loc[spans.index.repeat(n_weeks.to_numpy()), [*SERIES_KEYS, "first_week"]]
    offset = rows.groupby(level=0).cumcount().to_numpy()
    weeks = rows["first_week"].to_numpy() + offset * np.timedelta64(7, "D")
    grid = rows[SERIES_KEYS].reset_index(drop=True)
    grid[WEEK] = pd.Series(weeks, dtype="datetime64[ns]")
    return grid


def _empty_panel() -> pd.DataFrame:
    def dtype(column: str) -> str:
        if column == WEEK:
            return "datetime64[ns]"
        if column in PROMO_FLAGS or column.startswith("is_"):
            return "bool"
        if column in (*NUMERIC_ATTRIBUTES, "units", "sales_value", *PRICE_COLUMNS, "units_for_training"):
            return "float64"
        return "str"

    return pd.DataFrame({c: pd.Series(dtype=dtype(c)) for c in PANEL_COLUMNS})
