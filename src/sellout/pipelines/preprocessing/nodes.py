"""Preprocessing: the dbt sell-out mart to a complete weekly panel per store x product series.

Rules (see ``build_model_panel``):

* a series is one (store_code, product_code) pair; its span runs from its first to its last observed week;
* the quantity a series is forecast in is its source's ``measure``: units, or the sales value of a value-only
  feed; the panel's ``units`` column holds it (the quantity forecast) and ``measure`` says which it is;
* a daily feed's incomplete weeks (``is_complete_week`` false) are left out before anything else;
* inside the span every week exists; a week without a row is a zero-sales week (``units = 0``,
  ``is_filled = True``): the product was ranged in that store but nothing was sold, unless the whole store
  delivered nothing that week while it delivered before and after: then it is an outage (``is_outage``,
  ``units`` missing; outages.py, ``preprocessing.outages``);
* price is the delivered price, or sales value / units where a feed gives none; base_price is the delivered
  one, or the highest price of the series' unpromoted weeks among the last ``base_price_weeks`` weeks; both
  are forward-filled, then back-filled, within the series;
* promo flags (feature, display, tpr_only, promotion) are False where missing;
* series with fewer than ``min_weeks_history`` observed weeks are dropped;
* ranging gaps, launches, delistings and outliers are marked by ``rules.apply_rules`` (``preprocessing.rules``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sellout.canonical import (
    CALENDAR_INPUTS,
    DEFAULT_SOURCE,
    IS_COMPLETE_WEEK,
    MEASURE,
    MEASURES,
    NUMERIC_ATTRIBUTES,
    PRICE_COLUMNS,
    PRODUCT,
    PRODUCT_ATTRIBUTES,
    SALES_VALUE,
    SELLOUT_FLAGS,
    SERIES_KEYS,
    SOURCE,
    STORE,
    STORE_ATTRIBUTES,
    UNITS,
    WEEK,
)
from sellout.config.parameters import PreprocessingParams, PromotionParams
from sellout.pipelines.preprocessing.grid import PanelGrid, panel_grid
from sellout.pipelines.preprocessing.outages import outage_weeks
from sellout.pipelines.preprocessing.panel_rules import apply_rules
from sellout.pipelines.preprocessing.text import as_text, mapped, text_filled
from sellout.pipelines.preprocessing.within_series import fill_within, rolling_max, series_bounds

logger = logging.getLogger(__name__)

SERIES_KEYS = list(SERIES_KEYS)
REQUIRED_COLUMNS = [WEEK, *SERIES_KEYS]
OPTIONAL_COLUMNS = [UNITS, SALES_VALUE, *PRICE_COLUMNS, *SELLOUT_FLAGS, *CALENDAR_INPUTS]
# Store and product attributes the model uses; one value per series (the last non-null one).
ATTRIBUTES = [*PRODUCT_ATTRIBUTES, *STORE_ATTRIBUTES]
PANEL_COLUMNS = [
    "series_id",
    *SERIES_KEYS,
    SOURCE,
    MEASURE,
    *PRODUCT_ATTRIBUTES,
    *STORE_ATTRIBUTES,
    WEEK,
    UNITS,
    SALES_VALUE,
    *PRICE_COLUMNS,
    *SELLOUT_FLAGS,
    *CALENDAR_INPUTS,
    "is_filled",
    "is_outage",
    # from rules.apply_rules: what the panel cannot tell by itself
    "is_ranged",
    "is_launch",
    "is_delisted",
    "is_outlier",
    "units_for_training",
]


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
        params: ``params:preprocessing`` (``min_weeks_history``, ``clip_negative_units``, ``outages``, ``rules``).
        store_attributes: ``marts.dim_store`` (store_code + segment, state, sales_area), optional.
        product_attributes: ``marts.dim_product`` (product_code + manufacturer, sub_category), optional.
        promotion: ``params:promotion`` (when a week counts as promoted, for the outlier rule).

    Returns:
        The panel with columns ``PANEL_COLUMNS``, sorted by store_code, product_code, week_end_date; its
        text columns (the keys, series_id, source, measure and the text attributes) are categoricals.
    """
    check_dbt_tests(dbt_test_status)
    p = PreprocessingParams.of(params, "preprocessing")

    weekly = _join_attributes(sellout_weekly, store_attributes, "store_code", list(STORE_ATTRIBUTES))
    weekly = _join_attributes(weekly, product_attributes, "product_code", list(PRODUCT_ATTRIBUTES))
    obs = _clean_observations(weekly, clip_negative=p.clip_negative_units)
    del weekly
    grid = panel_grid(obs, p.min_weeks_history)
    if not len(grid):
        if len(obs):
            longest = int(obs.groupby([STORE, PRODUCT], observed=True).size().max())
            logger.warning(
                "No series has %d weeks of sales yet (preprocessing.min_weeks_history); the longest has %d: "
                "the model panel is empty",
                p.min_weeks_history, longest,
            )  # fmt: skip
        return _empty_panel()
    series = grid.series
    panel = pd.DataFrame({key: _per_row(grid.keys[key], series) for key in SERIES_KEYS})
    panel[WEEK] = grid.dates()
    is_filled = grid.is_filled
    is_outage = np.zeros(len(grid), dtype=bool)
    if p.outages.detect == "store_weeks":
        outages = outage_weeks(grid.store_of_obs, grid.obs_week, grid.n_stores, grid.n_weeks)
        is_outage = outages[grid.store_of_series[series], grid.week] & is_filled
    panel["is_filled"] = is_filled
    panel["is_outage"] = is_outage

    per_series = _last_per_series(obs[[*ATTRIBUTES, SOURCE, MEASURE]], grid)
    for col in per_series.columns:
        if col == "sales_area":
            values = pd.to_numeric(per_series[col], errors="coerce").astype("float64")
        else:
            values = per_series[col].astype("str")
        panel[col] = _per_row(values, series)
    for col in (UNITS, SALES_VALUE):
        values = grid.place(obs[col], np.nan, "float64")
        panel[col] = np.where(is_outage, np.nan, np.where(is_filled, 0.0, values))
    # The quantity forecast: the series' measure (units, or a value-only feed's sales value).
    by_value = (panel[MEASURE] == SALES_VALUE).to_numpy()
    panel[UNITS] = np.where(by_value, panel[SALES_VALUE], panel[UNITS])
    for col in SELLOUT_FLAGS:
        panel[col] = grid.place(obs[col].fillna(False).astype(bool), False, "bool")
    for col in (*PRICE_COLUMNS, *CALENDAR_INPUTS):
        panel[col] = grid.place(obs[col].astype("float64"), np.nan, "float64")
    keys = grid.keys
    # everything is on the grid now: the observations and their positions are freed before the rules run (with
    # the rules on series numbers and int32 positions, the 20x node's high-water mark went 3,971 -> 2,679 MB)
    del obs, grid, per_series
    _fill_prices(panel, series, p.base_price_weeks)
    panel["series_id"] = _per_row(keys[STORE] + "|" + keys[PRODUCT], series)
    panel = apply_rules(panel, p, promotion, series=series)
    return panel[PANEL_COLUMNS]  # the grid's order: store_code, product_code, week_end_date


def summarize_model_panel(incomplete_weeks: pd.DataFrame, model_panel: pd.DataFrame) -> dict[str, Any]:
    """Kedro node: what the panel holds per source: series, weeks, outage store-weeks (and their cells) and
    the incomplete weeks of a daily feed left out; and the units of each week (``model_panel_status``).
    ``incomplete_weeks``: the mart's rows whose ``is_complete_week`` is false (the catalog entry's query; the
    whole mart counts the same)."""
    sources: dict[str, dict[str, Any]] = {}
    for source, rows in model_panel.groupby(SOURCE, sort=True):
        outage = rows[rows["is_outage"]]
        sources[str(source)] = {
            "measure": str(rows[MEASURE].iloc[0]),
            "series": int(rows["series_id"].nunique()),
            "weeks": int(rows[WEEK].nunique()),
            "outage_weeks": int(len(outage[["store_code", WEEK]].drop_duplicates())),
            "outage_cells": int(len(outage)),
            "incomplete_weeks": 0,
        }
    if IS_COMPLETE_WEEK in incomplete_weeks.columns:
        incomplete = incomplete_weeks[incomplete_weeks[IS_COMPLETE_WEEK].eq(False)]
        source = incomplete[SOURCE] if SOURCE in incomplete else pd.Series(DEFAULT_SOURCE, incomplete.index)
        counts = incomplete.assign(_source=source.astype("str")).drop_duplicates(
            ["_source", "store_code", WEEK]
        )
        for name, n in counts.groupby("_source").size().items():
            sources.setdefault(str(name), {"series": 0, "outage_weeks": 0, "outage_cells": 0})
            sources[str(name)]["incomplete_weeks"] = int(n)
    weekly = (
        model_panel.groupby(WEEK, sort=True)[UNITS].sum() if len(model_panel) else pd.Series(dtype="float64")
    )
    return {
        "rows": int(len(model_panel)),
        "series": int(model_panel["series_id"].nunique()) if len(model_panel) else 0,
        "outage_weeks": sum(s.get("outage_weeks", 0) for s in sources.values()),
        "sources": sources,
        # what the report draws as the actuals: it reads this, not the panel, which is freed after the features
        "weekly_units": [
            {WEEK: pd.Timestamp(week).date().isoformat(), UNITS: float(total)}
            for week, total in weekly.items()
        ],
    }


def _per_row(per_series: pd.Series, series: np.ndarray) -> pd.Series:
    """A per-series value on every row of its series: text as a categorical (one code per row, not one string:
    dunnhumby's panel took 140 MB with text columns, 51 MB with categoricals), numbers as they are."""
    values = per_series.astype("category") if per_series.dtype == "str" else per_series
    return values.take(series).reset_index(drop=True)


def _last_per_series(columns: pd.DataFrame, grid: PanelGrid) -> pd.DataFrame:
    """One row per kept series: each column's last non-null value in week order. The observations may come in
    any order (the mart is read unsorted: sorting 10.5 million rows took PostgreSQL 10 s on disk)."""
    obs_at_cell = np.full(len(grid), -1, dtype="int64")
    obs_at_cell[grid.obs_cells] = grid.obs_rows
    cells = np.flatnonzero(obs_at_cell >= 0)  # grid rows with an observation: series, then week order
    in_week_order = columns.take(obs_at_cell[cells])
    return in_week_order.groupby(grid.series[cells], sort=True).last().reset_index(drop=True)


def _fill_prices(panel: pd.DataFrame, series: np.ndarray, base_price_weeks: int) -> None:
    """Price and base price per cell (in place): delivered, else derived, then carried within the series."""
    first, last = series_bounds(series)
    price = panel["price"].to_numpy(dtype="float64", copy=True)
    units = panel[UNITS].to_numpy(dtype="float64")
    derive = np.isnan(price) & (units > 0) & (panel[MEASURE] == UNITS).to_numpy()
    price[derive] = panel[SALES_VALUE].to_numpy(dtype="float64")[derive] / units[derive]
    base = panel["base_price"].to_numpy(dtype="float64", copy=True)
    unknown_base = np.isnan(base)
    if unknown_base.any():
        irregular = panel["is_filled"].to_numpy(dtype=bool, copy=True)
        for flag in SELLOUT_FLAGS:
            irregular |= panel[flag].fillna(False).to_numpy(dtype=bool)
        regular = price.copy()
        regular[irregular] = np.nan
        base[unknown_base] = rolling_max(regular, first, base_price_weeks)[unknown_base]
        del regular, irregular
    panel["price"] = fill_within(price, first, last)
    del price
    panel["base_price"] = fill_within(base, first, last)


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
    table = attributes[[key, *wanted]].set_index(attributes[key].astype("str"))
    out = weekly.assign(**{key: as_text(weekly[key])})  # columns shared, not copied (copy on write)
    for column in wanted:
        out[column] = mapped(out[key], table[column])
    return out


def _clean_observations(sellout_weekly: pd.DataFrame, clip_negative: bool) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in sellout_weekly.columns]
    if UNITS not in sellout_weekly.columns and SALES_VALUE not in sellout_weekly.columns:
        missing.append(f"{UNITS} or {SALES_VALUE}")
    if missing:
        raise ValueError(f"sellout_weekly lacks required columns: {missing}")
    # a new frame sharing the caller's columns: pandas copies on write, so what is set below is this frame's
    obs = sellout_weekly.copy(deep=False)
    if IS_COMPLETE_WEEK in obs.columns:
        complete = obs[IS_COMPLETE_WEEK].ne(False).to_numpy()
        if not complete.all():
            obs = obs[complete]
    for col in [*OPTIONAL_COLUMNS, *ATTRIBUTES]:
        if col not in obs.columns:
            obs[col] = False if col in SELLOUT_FLAGS else np.nan
    obs[SOURCE] = text_filled(obs[SOURCE], DEFAULT_SOURCE) if SOURCE in obs else DEFAULT_SOURCE
    obs[MEASURE] = _measure(obs)
    obs = obs[[*REQUIRED_COLUMNS, SOURCE, MEASURE, *OPTIONAL_COLUMNS, *ATTRIBUTES]]
    obs[WEEK] = pd.to_datetime(obs[WEEK]).dt.normalize().astype("datetime64[ns]")
    if obs[WEEK].isna().any():
        raise ValueError("sellout_weekly has rows with a null week_end_date")
    weekdays = obs[WEEK].dt.day_of_week.unique()
    if len(weekdays) > 1:
        raise ValueError(f"week_end_date must fall on one weekday; found weekdays {sorted(weekdays)}")
    for col in SERIES_KEYS:
        obs[col] = as_text(obs[col])
        nulls = int(obs[col].isna().sum())
        if nulls:
            raise ValueError(f"sellout_weekly has {nulls} rows with a null {col}")
    for col in (UNITS, SALES_VALUE):
        values = obs[col].astype("float64")
        measured = obs[MEASURE] == col
        values = values.where(~measured, values.fillna(0.0))
        obs[col] = values.clip(lower=0.0) if clip_negative else values
    return obs


def _measure(obs: pd.DataFrame) -> pd.Series:
    """Each row's measure: the mart's, else units where the source delivers any, else its sales value."""
    if MEASURE in obs.columns and obs[MEASURE].notna().all():
        measure = as_text(obs[MEASURE])
    else:
        has_units = obs[UNITS].notna().groupby(obs[SOURCE]).transform("any")
        measure = pd.Series(np.where(has_units, UNITS, SALES_VALUE), index=obs.index, dtype="str")
    unknown = sorted(set(measure.unique()) - set(MEASURES))
    if unknown:
        raise ValueError(f"sellout_weekly has unknown measures {unknown} (expected one of {list(MEASURES)})")
    mixed = measure.groupby(obs[SOURCE]).nunique()
    if (mixed > 1).any():
        raise ValueError(f"source {mixed[mixed > 1].index[0]!r} has rows in more than one measure")
    return measure


def _empty_panel() -> pd.DataFrame:
    def dtype(column: str) -> str:
        if column == WEEK:
            return "datetime64[ns]"
        if column in SELLOUT_FLAGS or column.startswith("is_"):
            return "bool"
        numeric = (*NUMERIC_ATTRIBUTES, UNITS, SALES_VALUE, *PRICE_COLUMNS, *CALENDAR_INPUTS)
        if column in (*numeric, "units_for_training"):
            return "float64"
        return "str"

    return pd.DataFrame({c: pd.Series(dtype=dtype(c)) for c in PANEL_COLUMNS})
