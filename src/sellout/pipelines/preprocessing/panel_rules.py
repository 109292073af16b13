"""Explicit, configurable rules that mark what a complete weekly panel cannot tell by itself.

Each rule adds a boolean column and, where configured, acts on it; all are vectorised over every series at once.

* **ranging** - a run of at least ``unranged_gap_weeks`` weeks without a row inside a series' span means the
  product was not ranged in that store then: those weeks become missing (``units`` NaN, ``is_ranged`` False)
  instead of zero sales. ``null`` turns the rule off (every week inside the span is a zero sale).
* **launches** - the first ``launch_weeks`` weeks of a series that starts after the panel's first week are its
  launch period (``is_launch``): sales ramp up there, so training may leave them out.
* **delistings** - a series whose last row is more than ``delisted_after_weeks`` weeks before the panel's last
  week is delisted (``is_delisted``): it gets no forecast.
* **outliers** - an unpromoted week whose units exceed the series' median by more than
  ``outlier_mad_threshold`` median absolute deviations (``is_outlier``); ``outlier_action`` ``cap`` lowers them
  to that bound in ``units_for_training`` (the actual ``units`` stay as sold, so backtests score against what
  happened), ``keep`` leaves them. A promoted week (a promotion flag, or a price at least
  ``promotion.price_cut`` below base price) is never an outlier: the promotion inputs explain its uplift (on
  dunnhumby, 98% of the weeks a MAD rule flags are promoted ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sellout.canonical import PROMO_FLAGS, SERIES_KEYS, WEEK
from sellout.config.parameters import PreprocessingParams, PromotionParams

from .within_series import series_bounds

SERIES = list(SERIES_KEYS)


def apply_rules(
    panel: pd.DataFrame,
    params: PreprocessingParams | Mapping[str, Any] | None = None,
    promotion: PromotionParams | Mapping[str, Any] | None = None,
    series: np.ndarray | None = None,
) -> pd.DataFrame:
    """The panel (one row per series and week, ``is_filled`` marking weeks that had no row) with the rule
    columns added: is_ranged, is_launch, is_delisted, is_outlier, units_for_training.

    ``series``: each row's series number, when the rows already come in series, then week order (the grid's);
    without it the panel is sorted and its series numbered here. The rules work on those numbers and the
    rows' positions: a group-by on the two key columns took 1.42 s against 0.49 s on 3 million rows of the
    20x dunnhumby panel."""
    rules = PreprocessingParams.of(params, "preprocessing").rules
    price_cut = PromotionParams.of(promotion, "promotion").price_cut
    if series is None:
        panel = _sorted(panel, [*SERIES, WEEK])
        series = panel.groupby(SERIES, sort=False, observed=True).ngroup().to_numpy()
    else:
        panel = panel.copy(deep=False)
    if not len(panel):
        return panel.assign(
            is_ranged=False, is_launch=False, is_delisted=False, is_outlier=False,
            units_for_training=panel["units"].astype("float64"),
        )  # fmt: skip
    first, last = series_bounds(series)
    filled = panel["is_filled"].to_numpy(dtype=bool)
    is_ranged = ~_long_gaps(filled, first, rules.unranged_gap_weeks)
    units = panel["units"].to_numpy(dtype="float64", copy=True)
    units[~is_ranged] = np.nan
    panel["is_ranged"] = is_ranged
    panel["units"] = units

    week = panel[WEEK].to_numpy(dtype="datetime64[ns]")
    week_index = np.arange(len(panel), dtype=first.dtype) - first
    panel["is_launch"] = (week[first] > week.min()) & (week_index < rules.launch_weeks)
    del week_index
    panel["is_delisted"] = (week.max() - week[last]) > np.timedelta64(7 * rules.delisted_after_weeks, "D")

    median = pd.Series(units).groupby(series, sort=False).transform("median").to_numpy()
    mad = pd.Series(np.abs(units - median)).groupby(series, sort=False).transform("median").to_numpy()
    # a series that sells the same every week has MAD 0: one unit of slack keeps ordinary weeks from being outliers
    bound = median + rules.outlier_mad_threshold * np.maximum(mad, 1.0)
    del median, mad
    with np.errstate(invalid="ignore"):
        is_outlier = (units > bound) & ~_promoted(panel, price_cut)
    panel["is_outlier"] = is_outlier
    panel["units_for_training"] = (
        np.where(is_outlier, bound, units) if rules.outlier_action == "cap" else units
    )
    return panel


def _sorted(panel: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A new frame of the panel sorted by ``keys`` with a fresh index: a shallow copy when it already is (sorting
    copies every column; with copy on write the rules' columns never reach the caller's frame either way)."""
    fresh_index = panel.index.equals(pd.RangeIndex(len(panel)))
    if fresh_index and pd.MultiIndex.from_frame(panel[keys]).is_monotonic_increasing:
        return panel.copy(deep=False)
    return panel.sort_values(keys, kind="stable").reset_index(drop=True)


def _promoted(panel: pd.DataFrame, price_cut: float) -> np.ndarray:
    """True on weeks with a promotion flag or a price at least ``price_cut`` below base price."""
    promoted = np.zeros(len(panel), dtype=bool)
    for flag in (*PROMO_FLAGS, "promotion"):
        if flag in panel:
            promoted |= panel[flag].fillna(False).to_numpy(dtype=bool)
    if "price" in panel and "base_price" in panel:
        price = panel["price"].to_numpy(dtype="float64")
        base_price = panel["base_price"].to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            promoted |= price < base_price * (1.0 - float(price_cut))
    return promoted


def _long_gaps(filled: np.ndarray, first: np.ndarray, min_weeks: int | None) -> np.ndarray:
    """True on rows that belong to a run of at least ``min_weeks`` consecutive filled weeks of their series
    (``first``: each row's series' first row)."""
    if not min_weeks or not len(filled):
        return np.zeros(len(filled), dtype=bool)
    # a new run starts where the filled flag changes or a new series begins
    starts = np.ones(len(filled), dtype=bool)
    starts[1:] = filled[1:] != filled[:-1]
    starts[first == np.arange(len(filled), dtype=first.dtype)] = True
    bounds = np.append(np.flatnonzero(starts), len(filled))
    lengths = np.diff(bounds)
    return filled & (np.repeat(lengths, lengths) >= int(min_weeks))
