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

SERIES = list(SERIES_KEYS)


def apply_rules(
    panel: pd.DataFrame,
    params: PreprocessingParams | Mapping[str, Any] | None = None,
    promotion: PromotionParams | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The panel (sorted by series and week, with ``is_filled`` marking weeks that had no row) with the rule
    columns added: is_ranged, is_launch, is_delisted, is_outlier, units_for_training."""
    rules = PreprocessingParams.of(params, "preprocessing").rules
    price_cut = PromotionParams.of(promotion, "promotion").price_cut
    panel = _sorted(panel, [*SERIES, WEEK])
    series = panel.groupby(SERIES, sort=False, observed=True)
    panel["is_ranged"] = ~_long_gaps(panel, series, rules.unranged_gap_weeks)
    panel.loc[~panel["is_ranged"], "units"] = np.nan

    first_week = series[WEEK].transform("min")
    week_index = series.cumcount()
    starts_late = first_week > panel[WEEK].min()
    panel["is_launch"] = starts_late & (week_index < rules.launch_weeks)

    last_week = series[WEEK].transform("max")
    panel_end = panel[WEEK].max()
    panel["is_delisted"] = (panel_end - last_week) > pd.Timedelta(weeks=rules.delisted_after_weeks)

    median = series["units"].transform("median")
    mad = (panel["units"] - median).abs().groupby([panel[c] for c in SERIES], sort=False).transform("median")
    # a series that sells the same every week has MAD 0: one unit of slack keeps ordinary weeks from being outliers
    bound = median + rules.outlier_mad_threshold * np.maximum(mad, 1.0)
    panel["is_outlier"] = (panel["units"] > bound).fillna(False) & ~_promoted(panel, price_cut)
    training = panel["units"]
    if rules.outlier_action == "cap":
        training = training.where(~panel["is_outlier"], bound)
    panel["units_for_training"] = training
    return panel


def _sorted(panel: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A new frame of the panel sorted by ``keys`` with a fresh index: a shallow copy when it already is (sorting
    copies every column; with copy on write the rules' columns never reach the caller's frame either way)."""
    fresh_index = panel.index.equals(pd.RangeIndex(len(panel)))
    if fresh_index and pd.MultiIndex.from_frame(panel[keys]).is_monotonic_increasing:
        return panel.copy(deep=False)
    return panel.sort_values(keys, kind="stable").reset_index(drop=True)


def _promoted(panel: pd.DataFrame, price_cut: float) -> pd.Series:
    """True on weeks with a promotion flag or a price at least ``price_cut`` below base price."""
    promoted = pd.Series(False, index=panel.index)
    for flag in (*PROMO_FLAGS, "promotion"):
        if flag in panel:
            promoted |= panel[flag].fillna(False).astype(bool)
    if "price" in panel and "base_price" in panel:
        promoted |= (panel["price"] < panel["base_price"] * (1.0 - float(price_cut))).fillna(False)
    return promoted


def _long_gaps(panel: pd.DataFrame, series, min_weeks: int | None) -> pd.Series:
    """True on weeks that belong to a run of at least ``min_weeks`` consecutive filled weeks."""
    if not min_weeks:
        return pd.Series(False, index=panel.index)
    filled = panel["is_filled"].astype(bool)
    # a new run starts where the filled flag changes or a new series begins
    new_series = series.cumcount() == 0
    run_id = ((filled != filled.shift(fill_value=False)) | new_series).cumsum()
    run_length = filled.groupby(run_id).transform("sum")
    return filled & (run_length >= int(min_weeks))
